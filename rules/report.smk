localrules:
    report,


# Tables and figures from the results (all configured ones; with report.partial, those that exist).
# The report code is an input, so editing it regenerates the tables and nothing else.
rule report:
    input:
        code=stage_script("report.py"),
        evals=report_evals,
        pairs=report_pairs,
        step_rewards=report_step_rewards,
        library=REPORT_LIBRARY,
    output:
        md=report("results/tables/main.md", category="Tables", labels={"table": "main"}),
        csv="results/tables/main.csv",
        rewards=report(
            "results/figures/rewards.png",
            category="Figures",
            labels={"figure": "reward per iteration"},
        ),
        figure4=report(
            "results/figures/figure4.png",
            caption="../report/figure4.rst",
            category="Figures",
            labels={"figure": "Figure 4: step rewards"},
        ),
        tables=[
            report(
                f"results/tables/{table}.{ext}",
                caption=f"../report/{table}.rst",
                category="Tables",
                subcategory=ext,
                labels={"table": table, "format": ext},
            )
            for table in PAPER_TABLES
            for ext in ["md", "csv", "tex"]
        ],
        # The pair diagnostic (does IPR get step pairs of its own?) and the method effect with
        # paired bootstrap CIs over seeds and tasks (ipr/pairs.py, ipr/effect.py).
        pairs_md=report(
            "results/tables/pairs.md",
            category="Tables",
            labels={"table": "pair diagnostic"},
        ),
        pairs_csv="results/tables/pairs.csv",
        effect_md=report(
            "results/tables/effect.md",
            category="Tables",
            labels={"table": "effect"},
        ),
        effect_csv="results/tables/effect.csv",
        effect_png=report(
            "results/figures/effect.png",
            category="Figures",
            labels={"figure": "effect: seeds, paired differences, iterations"},
        ),
        config=report(
            "results/tables/config.yaml",
            category="Configuration",
            labels={"file": "config (as run)"},
        ),
    log:
        "logs/report.log",
    benchmark:
        "benchmarks/report.tsv"
    conda:
        "../envs/ipr.yaml"
    params:
        tables=tables_dir,
        figures=figures_dir,
        layout=report_layout,
        config=report_config,
        methods=step_reward_methods(),
    shell:
        "python {input.code} --layout '{params.layout}' --evals {input.evals} --pairs {input.pairs}"
        " --step-rewards {input.step_rewards} --step-reward-methods {params.methods}"
        " --benchmarks-dir benchmarks --config-json '{params.config}'"
        " --out-dir {params.tables} --figures {params.figures} > {log} 2>&1"
