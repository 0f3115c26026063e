from castvoice.cli import run

run()
