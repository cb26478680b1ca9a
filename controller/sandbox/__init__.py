"""The sandbox: a GitHub-compatible forge, a stand-in model API and a scripted agent.

It exists so the controller can be tried, tested and demonstrated without GitHub or a
model account. It talks to the controller only the way the real things do: over HTTP,
git and tmux. It must never import the controller's internals (machine, store, decide,
reconcile); the controller must never import it outside the `demo` and `sandbox` commands.
"""
