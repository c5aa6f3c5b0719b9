"""Result tables and figures: the main table and pair diagnostic (results), the paper's tables and
cost (tables), the method effect with its paired bootstrap (effect)."""
