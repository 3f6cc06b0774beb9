"""The Units view: what each hidden unit responds to over a probe text, across training (issue 14)."""
