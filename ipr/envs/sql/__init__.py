"""The embedded InterCode-style SQL benchmark (env family ``sql_embedded``)."""

from ipr.envs.sql.env import SqlEnv
from ipr.envs.sql.generate import generate_benchmark
from ipr.envs.sql.reward import intercode_reward

__all__ = ["SqlEnv", "generate_benchmark", "intercode_reward"]
