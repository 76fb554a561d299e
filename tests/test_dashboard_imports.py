"""The dashboard process never imports torch: pages talk to the database and queue work for workers."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT

SCRIPT = """
import sys
from pathlib import Path
from streamlit.testing.v1 import AppTest
from db.session import migrate
migrate()
assert not Path("dashboard/pages").exists(), "a pages/ folder turns on Streamlit's old multipage layout"
pages = sorted(p.name for p in Path("dashboard/views").glob("*.py"))
for name in pages:
    at = AppTest.from_file("dashboard/app.py", default_timeout=60).run()
    at.switch_page(f"views/{name}").run()
    assert not at.exception, (name, at.exception)
heavy = sorted(m for m in ("torch", "onnxscript") if m in sys.modules)
print("PAGES", len(pages), "HEAVY", heavy)
"""


@pytest.mark.slow
def test_pages_do_not_import_torch(home):
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**__import__("os").environ})
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("PAGES") and int(last.split()[1]) >= 5
    assert last.endswith("HEAVY []"), last
