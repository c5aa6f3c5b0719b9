"""The method: Monte-Carlo step rewards (scoring), step and outcome pairs (pairs), evaluation."""
