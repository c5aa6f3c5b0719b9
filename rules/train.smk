# The reference is the SFT policy (IPR) or the policy the iteration starts from (ETO): reference_for.
rule reference_logps:
    input:
        code=stage_script("reference_logps.py"),
        reference=reference_for,
        pairs=layout.PAIRS,
    output:
        pairs=layout.PAIRS_REFERENCE,
    log:
        layout.log("reference_logps"),
    benchmark:
        layout.benchmark("reference_logps")
    conda:
        "../workflow-envs/ipr.yaml"
    threads: 2
    resources:
        gpu=gpus("reference_logps"),
    params:
        settings=settings_for("reference_logps"),
        library=library_code("reference_logps.py"),
    shell:
        "python {input.code} --benchmark {wildcards.benchmark}"
        " --reference {input.reference} --pairs {input.pairs}"
        " --settings '{params.settings}' --out {output.pairs} > {log} 2>&1"


# The reference model is not an input: its log-probs come with the pairs.
rule train:
    input:
        code=stage_script("train_mixed.py"),
        policy=policy_for,
        pairs=layout.PAIRS_REFERENCE,
    output:
        policy=directory(layout.ITER_POLICY),
    log:
        layout.log("train"),
    benchmark:
        layout.benchmark("train")
    wildcard_constraints:
        method=alternation(MIXED_METHODS),
    conda:
        "../workflow-envs/ipr.yaml"
    threads: 2
    resources:
        gpu=gpus("train"),
    params:
        settings=settings_for("train"),
        processes=processes_for("train"),
        library=library_code("train_mixed.py", "../ipr/training/launch.py"),
    shell:
        "python -m ipr.training.launch --nproc-per-node {params.processes} {input.code}"
        " --benchmark {wildcards.benchmark} --policy {input.policy} --pairs {input.pairs}"
        " --settings '{params.settings}' --out {output.policy} > {log} 2>&1"


# What the iteration's update did to outcome pairs of the validation split, which no method trains
# on: the trained policy's log-prob change from its DPO reference on the chosen (expert) and the
# rejected (SFT policy's) side (ipr/method/heldout.py). Planned where a benchmark evaluates valid.
rule heldout_pairs:
    input:
        code=stage_script("heldout_pairs.py"),
        policy=layout.ITER_POLICY,
        reference=reference_for,
        tasks=heldout_tasks,
        evals=heldout_evals,
    output:
        layout.HELDOUT_PAIRS,
    log:
        layout.log("heldout_pairs"),
    benchmark:
        layout.benchmark("heldout_pairs")
    wildcard_constraints:
        method=alternation(MIXED_METHODS),
    conda:
        "../workflow-envs/ipr.yaml"
    threads: 2
    resources:
        gpu=gpus("heldout_pairs"),
    params:
        settings=settings_for("heldout_pairs"),
        library=library_code("heldout_pairs.py"),
    shell:
        "python {input.code} --benchmark {wildcards.benchmark} --policy {input.policy}"
        " --reference {input.reference} --tasks {input.tasks} --evals {input.evals}"
        " --settings '{params.settings}' --out {output} > {log} 2>&1"


# Rejection-sampling fine-tuning (method_settings trainer: sft): the SFT trainer on the expert
# trajectories plus the policy's successful explored ones, from the base model; no pairs.
rule rft:
    input:
        code=stage_script("sft.py"),
        model=base_model_dir,
        train=layout.TRAIN,
        explore=explore_shards,
    output:
        policy=directory(layout.ITER_POLICY),
    log:
        layout.log("rft"),
    benchmark:
        layout.benchmark("rft")
    wildcard_constraints:
        method=alternation(RFT_METHODS),
    conda:
        "../workflow-envs/ipr.yaml"
    threads: 2
    resources:
        gpu=gpus("sft"),
    params:
        settings=settings_for("rft"),
        processes=processes_for("sft"),
        library=library_code("sft.py", "../ipr/training/launch.py"),
    shell:
        "python -m ipr.training.launch --nproc-per-node {params.processes} {input.code} --benchmark {wildcards.benchmark}"
        " --model-dir {input.model} --train {input.train} --explored {input.explore}"
        " --settings '{params.settings}' --out {output.policy} > {log} 2>&1"
