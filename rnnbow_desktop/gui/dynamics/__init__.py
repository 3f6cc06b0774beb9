"""The Dynamics view (issue 15): how a network's hidden units organise themselves over training."""
