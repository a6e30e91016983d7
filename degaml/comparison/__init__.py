"""The comparison protocol (what a method may read of a target task), paired tests, and the reproduced tables."""
