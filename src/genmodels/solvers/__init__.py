"""ODE/SDE solvers with a declared order; they integrate f(t, x) and never import a network."""
