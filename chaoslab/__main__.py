from chaoslab.cli import run

run()
