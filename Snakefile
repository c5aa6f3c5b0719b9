from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/model.smk"
include: "rules/sft.smk"
include: "rules/explore.smk"
include: "rules/score.smk"
include: "rules/pairs.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"
include: "rules/reward_model.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
