localrules:
    report,


# Tables and figures from the results (all configured ones; with report.partial, those that exist).
# The report code is an input, so editing it regenerates the tables and nothing else.
rule report:
    input:
        code=stage_script("report.py"),
        evals=report_evals,
        pairs=report_pairs,
        heldout=report_heldout,
        step_rewards=report_step_rewards,
    output:
        md=report(layout.MAIN_MD, category="Tables", labels={"table": "main"}),
        csv=layout.MAIN_CSV,
        rewards=report(
            layout.REWARDS_FIGURE,
            category="Figures",
            labels={"figure": "reward per iteration"},
        ),
        figure4=report(
            layout.FIGURE4,
            caption="../report/figure4.rst",
            category="Figures",
            labels={"figure": "Figure 4: step rewards"},
        ),
        tables=[
            report(
                layout.TABLE.format(table=table, ext=ext),
                caption=f"../report/{table}.rst",
                category="Tables",
                subcategory=ext,
                labels={"table": table, "format": ext},
            )
            for table in PAPER_TABLES
            for ext in ["md", "csv", "tex"]
        ],
        # The pair diagnostic (does IPR get step pairs of its own?) and the method effect with
        # paired bootstrap CIs over seeds and tasks (ipr/method/pairs.py, ipr/report/effect.py).
        pairs_md=report(
            layout.PAIRS_MD,
            category="Tables",
            labels={"table": "pair diagnostic"},
        ),
        pairs_csv=layout.PAIRS_CSV,
        # What each update did to held-out pairs (ipr/method/heldout.py): empty without a valid split.
        heldout_md=report(
            layout.HELDOUT_MD,
            category="Tables",
            labels={"table": "held-out pairs"},
        ),
        heldout_csv=layout.HELDOUT_CSV,
        effect_md=report(
            layout.EFFECT_MD,
            category="Tables",
            labels={"table": "effect"},
        ),
        effect_csv=layout.EFFECT_CSV,
        effect_png=report(
            layout.EFFECT_FIGURE,
            category="Figures",
            labels={"figure": "effect: seeds, paired differences, iterations"},
        ),
        config=report(
            layout.CONFIG_AS_RUN,
            category="Configuration",
            labels={"file": "config (as run)"},
        ),
    log:
        layout.log("report"),
    benchmark:
        layout.benchmark("report")
    conda:
        "../workflow-envs/ipr.yaml"
    params:
        tables=tables_dir,
        figures=figures_dir,
        layout=report_layout,
        config=report_config,
        methods=step_reward_methods(),
        library=library_code("report.py"),
    shell:
        "python {input.code} --layout '{params.layout}' --evals {input.evals} --pairs {input.pairs}"
        " --heldout {input.heldout}"
        " --step-rewards {input.step_rewards} --step-reward-methods {params.methods}"
        " --config-json '{params.config}'"
        " --out-dir {params.tables} --figures {params.figures} > {log} 2>&1"
