# The two set-up commands: `make demo` and `make test`. Both install what they need first.
VENV := .venv
CASTVOICE := $(VENV)/bin/castvoice
DEMO := castvoice-demo
WS := $(DEMO)/workspace

.PHONY: setup demo test bench

setup:
	@scripts/setup.sh

demo: setup
	$(CASTVOICE) demo build --out $(DEMO)
	$(CASTVOICE) ingest $(DEMO)/demo.mp4 --subs $(DEMO)/demo.srt --script $(DEMO)/demo.screenplay.txt -w $(WS)
	$(CASTVOICE) characters -w $(WS)
	$(CASTVOICE) clean Diane -w $(WS)
	$(CASTVOICE) references Diane --count 3 -w $(WS)
	$(CASTVOICE) dataset Diane --format ljspeech --out $(DEMO)/dataset/diane -w $(WS)
	$(CASTVOICE) report Diane --out $(DEMO)/diane-report.html -w $(WS)
	test -f $(WS)/voices/diane.cvoice || $(CASTVOICE) voice create Diane --budget 2 -w $(WS)
	$(CASTVOICE) speak --voice Diane "The lamp is lit again, and every ship in the fleet is coming home." -o $(DEMO)/diane-says.wav -w $(WS)
	$(CASTVOICE) clean Marcus -w $(WS)
	test -f $(WS)/voices/marcus.cvoice || $(CASTVOICE) train-voice Marcus --minutes 3 -w $(WS)
	$(CASTVOICE) report Marcus --out $(DEMO)/marcus-report.html -w $(WS)
	$(CASTVOICE) speak --voice Marcus "Nobody steals a lighthouse lens for the glass." -o $(DEMO)/marcus-says.wav -w $(WS)
	$(CASTVOICE) chat Diane --new --once "Good evening, Diane. My name is Sam. Is the lamp lit tonight?" -o $(DEMO)/diane-replies.wav -w $(WS)
	@echo
	@echo "demo film:        $(DEMO)/demo.mp4 (subtitles, screenplay and ground truth beside it)"
	@echo "workspace:        $(WS)"
	@echo "Diane's dataset:  $(DEMO)/dataset/diane (LJSpeech layout)"
	@echo "Diane's report:   $(DEMO)/diane-report.html (open it in a browser)"
	@echo "Diane's voice:    $(WS)/voices/diane.cvoice, saying a new line in $(DEMO)/diane-says.wav"
	@echo "Marcus's voice:   $(WS)/voices/marcus.cvoice, trained on his clips (similarity before and after in $(DEMO)/marcus-report.html), in $(DEMO)/marcus-says.wav"
	@echo "Diane's reply:    $(DEMO)/diane-replies.wav (talk on with: $(CASTVOICE) chat Diane -w $(WS))"

test:
	@scripts/setup.sh --test
	$(VENV)/bin/python -m pytest -q --durations=30

bench: setup
	$(CASTVOICE) bench ingest
