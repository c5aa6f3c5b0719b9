"""Studies of the method that are not stages of it: the step-reward model and the step-accuracy and
Figure 4 reports."""
