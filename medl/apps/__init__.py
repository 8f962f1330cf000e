"""`python -m medl.apps.train|evaluate|export|infer`: Clara's entry points onto `clara`."""
