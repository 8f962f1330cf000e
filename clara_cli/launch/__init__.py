"""Process layout: how many processes a job runs, spawning them (as torchrun does), detecting
torchrun/SLURM, and joining the process group. Knows nothing of MMARs or workflows."""
