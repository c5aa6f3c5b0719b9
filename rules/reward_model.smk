# Step rewards studied (paper section 5.5 and Fig. 3): a learned step reward model, the accuracy of
# MC step rewards against WebShop's page-level scores, and Table 5 (none vs RM vs MC).


rule step_reward_data:
    input:
        code=stage_script("step_reward_data.py"),
        tasks=layout.TRAIN,
        scores=step_reward_score_files,
    output:
        data=layout.STEP_REWARD_DATA,
    log:
        layout.log("step_reward_data"),
    benchmark:
        layout.benchmark("step_reward_data")
    conda:
        "../workflow-envs/ipr.yaml"
    params:
        settings=step_reward_settings("step_reward_data"),
        library=library_code("step_reward_data.py"),
    shell:
        "python {input.code} --benchmark {wildcards.benchmark} --tasks {input.tasks}"
        " --scores {input.scores} --settings '{params.settings}' --out {output.data} > {log} 2>&1"


rule train_reward_model:
    input:
        code=stage_script("train_reward_model.py"),
        base=layout.SFT_POLICY,
        data=layout.STEP_REWARD_DATA,
    output:
        model=directory(layout.REWARD_MODEL),
    log:
        layout.log("train_reward_model"),
    benchmark:
        layout.benchmark("train_reward_model")
    conda:
        "../workflow-envs/ipr.yaml"
    threads: 2
    resources:
        gpu=gpus("train_reward_model"),
    params:
        settings=step_reward_settings("train_reward_model"),
        processes=config.get("reward_model", {}).get("processes", 0),
        library=library_code("train_reward_model.py", "../ipr/training/launch.py"),
    shell:
        "python -m ipr.training.launch --nproc-per-node {params.processes} {input.code}"
        " --benchmark {wildcards.benchmark} --base {input.base} --data {input.data}"
        " --settings '{params.settings}' --out {output.model} > {log} 2>&1"


rule score_expert_rm:
    input:
        code=stage_script("score_rm.py"),
        scorer=layout.REWARD_MODEL,
        tasks=layout.TRAIN,
        assets=layout.ASSETS,
    output:
        scores=layout.EXPERT_SCORES_RM,
    log:
        layout.log("score_expert_rm"),
    benchmark:
        layout.benchmark("score_expert_rm")
    conda:
        "../workflow-envs/ipr.yaml"
    resources:
        gpu=gpus("score"),
    params:
        settings=step_reward_settings("score_expert_rm"),
        library=library_code("score_rm.py"),
    shell:
        "python {input.code} --benchmark {wildcards.benchmark} --scorer {input.scorer}"
        " --tasks {input.tasks} --assets {input.assets}"
        " --settings '{params.settings}' --out {output.scores} > {log} 2>&1"


rule scorer_cost:
    input:
        code=stage_script("scorer_cost.py"),
        scorer=layout.SFT_POLICY,
        reward_model=layout.REWARD_MODEL,
        tasks=layout.TRAIN,
        assets=layout.ASSETS,
    output:
        cost=layout.SCORER_COST,
    log:
        layout.log("scorer_cost"),
    benchmark:
        layout.benchmark("scorer_cost")
    conda:
        "../workflow-envs/ipr.yaml"
    resources:
        gpu=gpus("score"),
    params:
        settings=step_reward_settings("scorer_cost"),
        tasks_limit=config.get("reward_model", {}).get("cost_tasks", 8),
        library=library_code("scorer_cost.py"),
    shell:
        "python {input.code} --benchmark {wildcards.benchmark} --scorer {input.scorer}"
        " --reward-model {input.reward_model} --tasks {input.tasks} --assets {input.assets}"
        " --tasks-limit {params.tasks_limit} --settings '{params.settings}' --out {output.cost}"
        " > {log} 2>&1"


rule step_accuracy:
    input:
        code=stage_script("step_accuracy.py"),
        tasks=layout.TRAIN,
        assets=layout.ASSETS,
        scores=step_accuracy_inputs,
    output:
        md=layout.STEP_ACCURACY_MD,
        csv=layout.STEP_ACCURACY_CSV,
        figure=layout.STEP_ACCURACY_FIGURE,
    log:
        layout.log("step_accuracy"),
    benchmark:
        layout.benchmark("step_accuracy")
    conda:
        "../workflow-envs/ipr.yaml"
    params:
        settings=step_reward_settings("step_accuracy"),
        scorers=step_accuracy_scorers,
        library=library_code("step_accuracy.py"),
    shell:
        "python {input.code} --benchmark {wildcards.benchmark} --tasks {input.tasks}"
        " --assets {input.assets} {params.scorers} --settings '{params.settings}'"
        " --out-md {output.md} --out-csv {output.csv} --figure {output.figure} > {log} 2>&1"


localrules:
    step_reward_table,


rule step_reward_table:
    input:
        code=stage_script("step_reward_table.py"),
        evals=step_reward_evals(),
        reward_models=all_reward_models(),
        costs=all_scorer_costs(),
    output:
        md=layout.STEP_REWARDS_MD,
        csv=layout.STEP_REWARDS_CSV,
    log:
        layout.log("step_reward_table"),
    benchmark:
        layout.benchmark("step_reward_table")
    conda:
        "../workflow-envs/ipr.yaml"
    params:
        library=library_code("step_reward_table.py"),
    shell:
        "python {input.code} --evals {input.evals} --rm-models {input.reward_models}"
        " --costs {input.costs} --out-md {output.md} --out-csv {output.csv} > {log} 2>&1"
