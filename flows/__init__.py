"""Prefect flows: thin tasks over the claims services, one flow per module.

- `flows.intake.intake_flow`: import case files from a path or an inbox folder.
- `flows.assessment.assessment_flow`: assess claims in batches; artifact of what moved and why.
- `flows.review.signoff_flow`: wait for a reviewer's typed decision (pause with input), four eyes.
- `flows.serve`: the deployments and `claims serve`.
"""
