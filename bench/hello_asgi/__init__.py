"""An ASGI hello world: the floor the benchmark compares the function against."""
