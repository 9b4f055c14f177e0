"""Pure rules: the JsonLogic evaluator, effects, verifiable randomness and the interpreter.

Nothing here does I/O, reads a clock or keeps globals, so every action can be replayed,
simulated offline and tested exhaustively.
"""
