# The README's two commands are `make demo` and `make test`; both set everything up themselves.
VENV := .venv
BIN := $(VENV)/bin
# Two pytest sessions side by side (scripts/test.sh); each lists its 30 slowest tests at the end,
# so a suite growing towards its time limit shows where.
PYTEST_ARGS ?= --durations=30

.PHONY: demo test lint typecheck bootstrap clean addon

bootstrap:
	@scripts/bootstrap.sh

# The demo renders the sample animation (48 frames, made by Blender from the script) on an
# embedded farm of one node per core, then composes the video: wit-out/RenderAnimation/.
DEMO_SCENE := wit-out/sample.blend

demo:
	@scripts/bootstrap.sh blender ffmpeg
	@$(MAKE) --no-print-directory $(DEMO_SCENE)
	$(BIN)/wit run examples/render_animation.wit frames=$(DEMO_SCENE)@1-48 --out wit-out/RenderAnimation

$(DEMO_SCENE): scripts/make_sample_scene.py
	@mkdir -p $(dir $@)
	blender -b --factory-startup -noaudio --python-exit-code 1 -P scripts/make_sample_scene.py -- $@ \
		| grep '^sample scene'

test:
	@scripts/bootstrap.sh chromium blender ffmpeg xvfb dbus-daemon povray postgresql bpy
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	scripts/test.sh $(PYTEST_ARGS)

lint: bootstrap
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: bootstrap
	$(BIN)/mypy

# The Blender add-on's two packages (a legacy add-on zip and a 4.2+ extension zip): dist/.
addon: bootstrap
	$(BIN)/wit addon build --out dist

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache wit-out
