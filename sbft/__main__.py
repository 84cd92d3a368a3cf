"""`python -m sbft`: what torchrun and `accelerate launch -m sbft` run."""

from sbft.cli import main

main()
