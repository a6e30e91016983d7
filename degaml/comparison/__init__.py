"""The reproduced tables of the paper: cells of every registered method on every target (cached under content
keys), the tables with their paired tests, and the migration of cells cached under earlier keys."""
