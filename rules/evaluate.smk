# {run} is "sft" or "<method>/iter<k>": one rule evaluates every policy.


rule evaluate:
    input:
        code=stage_script("evaluate.py"),
        policy="results/{benchmark}/{model}/{run}/policy",
        tasks=eval_tasks,
        assets="results/{benchmark}/data/assets",
    output:
        eval="results/{benchmark}/{model}/{run}/eval/{split}/{shard}.jsonl",
    log:
        "logs/{benchmark}/{model}/{run}/eval/{split}/{shard}.log",
    benchmark:
        "benchmarks/{benchmark}/{model}/{run}/eval/{split}/{shard}.tsv"
    conda:
        "../envs/ipr.yaml"
    resources:
        gpu=gpus("evaluate"),
    params:
        python=config["evaluate"]["python"],
        num_shards=num_shards("evaluate"),
        settings=settings_for("evaluate"),
    shell:
        "{params.python} {input.code} --benchmark {wildcards.benchmark} --policy {input.policy}"
        " --tasks {input.tasks} --assets {input.assets}"
        " --shard {wildcards.shard} --num-shards {params.num_shards}"
        " --settings '{params.settings}' --out {output.eval} > {log} 2>&1"


rule gather_eval:
    input:
        code=stage_script("gather_eval.py"),
        shards=eval_shards,
    output:
        eval="results/{benchmark}/{model}/{run}/eval/{split}.jsonl",
        summary="results/{benchmark}/{model}/{run}/eval/{split}.summary.json",
    log:
        "logs/{benchmark}/{model}/{run}/eval/gather_{split}.log",
    benchmark:
        "benchmarks/{benchmark}/{model}/{run}/eval/gather_{split}.tsv"
    conda:
        "../envs/ipr.yaml"
    shell:
        "python {input.code} --out {output.eval} --summary {output.summary}"
        " {input.shards} > {log} 2>&1"


# Figure 4: MC step rewards (the SFT scorer) along the agent's own test trajectories.
rule score_eval:
    input:
        code=stage_script("score_expert.py"),
        scorer="results/{benchmark}/{model}/sft/policy",
        trajectories="results/{benchmark}/{model}/{run}/eval/{split}.jsonl",
        assets="results/{benchmark}/data/assets",
    output:
        scores="results/{benchmark}/{model}/{run}/eval/{split}.step_rewards.jsonl",
    log:
        "logs/{benchmark}/{model}/{run}/eval/score_eval_{split}.log",
    benchmark:
        "benchmarks/{benchmark}/{model}/{run}/eval/score_eval_{split}.tsv"
    conda:
        "../envs/ipr.yaml"
    resources:
        gpu=gpus("score"),
    params:
        python=config["score"]["python"],
        tasks=config["report"]["step_rewards"]["tasks"],
        settings=settings_for("score_eval"),
    shell:
        "{params.python} {input.code} --benchmark {wildcards.benchmark} --scorer {input.scorer}"
        " --tasks {input.trajectories} --assets {input.assets} --max-tasks {params.tasks}"
        " --settings '{params.settings}' --out {output.scores} > {log} 2>&1"
