"""One module per workflow (train, validate, infer; model families add theirs), the
registry they are found in (`base`), and what every run sets up first (`session`)."""
