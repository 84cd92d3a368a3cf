"""The run folder: predictable names for everything a run made, and the rules that keep the user's
files safe around it.

RUN_DIR/
  .sbft-run          marker: this folder is an sbft run (JSON: status, sbft version, keep_checkpoints)
  .sbft-lock         locked (flock) by the process writing the run, and holding its pid
  model/             the final model (SentenceTransformer(RUN_DIR/model)), with its model card
  adapter/           with model.adapter (merged into model/ by default): the adapter alone
  metrics.json       baseline_dev, baseline_test, final_dev, test, evaluations, training
  metrics.jsonl      every log entry as it arrived (training loss, lr, evaluations)
  recipe.yaml        the resolved recipe, every default filled in: rerun it with `sbft train`
  run.json, training_args.json   package versions, machine, timings; the trainer's arguments
  report.md, plots/  the report
  checkpoints/       trainer checkpoints, for resuming; removed when the run finishes, unless kept
  tensorboard/       TensorBoard event files, when training.report_to names tensorboard
  mined/             per dataset, the train rows with mined negatives (NAME.jsonl) and their
                     statistics (NAME.json): mined once, reused by --resume
  .sbft-replaced/    the previous run, while the run that replaces it has not finished

The rules: a folder is a run only if it holds the marker; any other non-empty folder is refused.
Replacing a run deletes only the names above (never a user's file beside them), and only once
the new run finished: until then the old run waits in .sbft-replaced/ and comes back if the new
one fails before it has a checkpoint. Every change to the folder happens under the lock, and the
marker journals the two moves (set aside, put back) so a killed process never leaves half a run.

layout: the names and reading the files; checks: what a folder holds and whether a run may
write there (nothing changed); lifecycle: the lock and every change to the folder.
"""

from sbft.files import check_writable, disk_error, write_json
from sbft.run_folder.checks import Folder, check_resume, check_start, inputs, read_folder
from sbft.run_folder.layout import (
    ADAPTER,
    CHECKPOINTS,
    LOCK,
    MARKER,
    METRICS,
    METRICS_LOG,
    MINED,
    MODEL,
    OWNED,
    PLOTS,
    RECIPE,
    REPLACED,
    REPORT,
    RUN_INFO,
    TENSORBOARD,
    TRAINING_ARGS,
    checkpoint_problem,
    checkpoints,
    environment,
    folder_size,
    is_owned,
    newest_checkpoint,
    read_evaluations,
    read_log,
    read_marker,
    read_run_info,
    save_model_atomically,
)
from sbft.run_folder.lifecycle import Claim, claim

__all__ = [
    "ADAPTER",
    "CHECKPOINTS",
    "LOCK",
    "MARKER",
    "METRICS",
    "METRICS_LOG",
    "MINED",
    "MODEL",
    "OWNED",
    "PLOTS",
    "RECIPE",
    "REPLACED",
    "REPORT",
    "RUN_INFO",
    "TENSORBOARD",
    "TRAINING_ARGS",
    "Claim",
    "Folder",
    "check_resume",
    "check_start",
    "check_writable",
    "checkpoint_problem",
    "checkpoints",
    "claim",
    "disk_error",
    "environment",
    "folder_size",
    "inputs",
    "is_owned",
    "newest_checkpoint",
    "read_evaluations",
    "read_folder",
    "read_log",
    "read_marker",
    "read_run_info",
    "save_model_atomically",
    "write_json",
]
