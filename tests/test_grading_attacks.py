"""Acceptance tests of issue 12: attack notebooks against the grading command line.

Each attack (tests/grading_attacks/<name>.py, see the README there) is added to lab 10.4
(the generated lab, "blank", or its solution, "solved") and graded with an honest solved
notebook and an honest blank lab beside it, as an instructor would grade a class::

    python -m course_lib.grading SUBMISSIONS --hidden HIDDEN --json out/results.json --csv out/grades.csv

The tests only look at what an instructor gets: exit status, stdout, stderr, the JSON,
the CSV, and the files on disk. For every attack:

(a) it scores what its honest answers deserve: an unanswered lab plus an attack 0, a
    solved lab plus an attack exactly full marks (answers that look up the *public*
    expected values, which the course publishes, may keep what memorising them earns,
    but no hidden test may pass);
(b) the honest notebooks in the same batch keep their scores (solved full, blank 0);
(c) no file outside the grader's output folder changes: the submissions, the hidden
    tests, the course the grader imports, the project's course_lib, the venv's
    site-packages (editable finder, .pth files), /tmp/course-attack-*; and the outputs do
    not change after the grader has exited;
(d) no hidden test text (a marker in the hidden-tests file, the hidden cases' inputs and
    expected values) appears in stdout, stderr, the JSON, the CSV or any other file of
    the output folder;
(e) the batch completes with all its results: exit status 0, a JSON submission and a
    CSV row for every notebook;
(f) no process the notebooks started outlives the grader (attack processes that could
    linger name themselves "course-attack"; the test ends any it finds).

Batches group attacks whose effects can be told apart, and run once per test session
(each CLI run costs a kernel or sandbox start per notebook). The grader runs from this
Python's environment, as an instructor would run it, so an attack that edits "the
install" edits the real one. Its payload is an inert comment line, which the test strips
from the files it watches outside its temporary folder (the course_lib the grader
imports, the project's, the editable install's source, the venv's site-packages
entries) after each batch, keeping anything else anyone changed meanwhile. Every other
attack only touches the test's temporary folders and /tmp/course-attack-*, and is
bounded, so that running the suite against a grader that fails to contain it (today's)
harms nothing.

Attacks that only a sandbox can stop are skipped, not run, when the grader reports
"not sandboxed" (the fork bomb above all); in CI that report is itself a failure.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from course_lib.grading.questions import questions_for_lab
from course_lib.log import assign_range, partition_for

pytestmark = [pytest.mark.slow, pytest.mark.notebooks]

ROOT = Path(__file__).resolve().parent.parent
ATTACKS_DIR = Path(__file__).resolve().parent / "grading_attacks"
LAB = "lab-10.4-kafka"
NOT_SANDBOXED = "not sandboxed"
BATCH_TIMEOUT = 900  # seconds for one CLI run
LINGER = 3.0  # seconds to wait after the grader exits, for batches with a detached process
HASH_LIMIT = 64 << 20  # files bigger than this are compared by size only
HONEST = {"classmate-blank.ipynb": "blank", "classmate-solved.ipynb": "solved"}
PAYLOAD = b"\n# course-attack was here\n"  # what edit_install.py appends to the install's files
TMP_ATTACK_FILES = "course-attack*"  # what attacks may leave in /tmp (checked, then removed)


@dataclass(frozen=True)
class Attack:
    name: str  # tests/grading_attacks/<name>.py
    base: str  # "blank" (labs/) or "solved" (solutions/)
    batch: str
    needs_sandbox: bool = True  # only a sandbox stops it: skipped when the grader is not sandboxed
    public_lookup: bool = False  # may earn what the public (published) expected values earn
    refused: tuple[str, ...] = ()  # questions whose output must say the reference refused

    @property
    def notebook(self) -> str:
        return f"attack-{self.name}.ipynb"

    def __str__(self) -> str:
        return self.name


ATTACKS = [
    # In-process cheats: the judge never runs in the learner's process, sandbox or not.
    Attack("patch_grader", "blank", "cheats", needs_sandbox=False),
    Attack("always_equal", "blank", "cheats", needs_sandbox=False),
    Attack("frames", "blank", "lookups", needs_sandbox=False, public_lookup=True),
    Attack("gc_memory", "blank", "lookups", needs_sandbox=False, public_lookup=True),
    Attack("forge_results", "blank", "cheats", needs_sandbox=False, public_lookup=True),
    Attack("import_reference", "blank", "cheats", needs_sandbox=False, refused=("10.4-q1", "10.4-q2")),
    Attack("import_third_party", "blank", "cheats", needs_sandbox=False, refused=("10.4-q1",)),
    # Hidden tests: read from disk or /proc, or remembered from the calls, then shown.
    Attack("hidden_from_disk", "blank", "secrets"),
    Attack("hidden_from_proc", "blank", "secrets"),
    Attack("replay_hidden_inputs", "blank", "replay"),
    # Other people's files and the install.
    Attack("delete_overwrite", "blank", "delete"),
    Attack("edit_install", "blank", "install"),
    # Processes.
    Attack("detached_rewriter", "blank", "detached"),
    Attack("kill_parent", "solved", "kill-parent"),
    Attack("killpg", "solved", "killpg"),
    Attack("kill_all", "solved", "kill-all"),
    # Resources.
    Attack("exhaust_memory", "blank", "resources"),
    Attack("fork_bomb", "blank", "resources"),
    Attack("huge_file", "blank", "disk"),
]
LINGERING_BATCHES = {"detached"}
CONTROL = "control"  # the two honest notebooks alone


# --- the hidden tests ---------------------------------------------------------------------


@dataclass(frozen=True)
class HiddenTests:
    """A hidden-tests file for the lab, and the strings from it that must never be shown."""

    text: str
    secrets: tuple[str, ...]
    counts: dict[str, int]


def make_hidden_tests() -> HiddenTests:
    token = secrets.token_hex(6)
    marker = f"hidden-marker-{token}"
    numbers = random.Random(token)
    part, end = numbers.randrange(10**9, 2 * 10**9), numbers.randrange(7 * 10**9, 8 * 10**9)
    committed = numbers.randrange(3 * 10**9, 4 * 10**9)
    key1, key2 = f"hidden-{token}-key".encode(), f"{token}-second".encode()
    members = [f"hm-{token}-b", f"hm-{token}-a"]
    assignment = {
        member: [tp.partition for tp in tps]
        for member, tps in assign_range({m: ["t"] for m in members}, {"t": 5}).items()
    }
    text = f'''"""Hidden tests for {LAB} ({marker}): the instructor's, never the learners'."""

from course_lib.grading import Case

MARKER = {marker!r}

HIDDEN = {{
    "10.4-q1": [
        Case(args=({key1!r}, 13), expected={partition_for(key1, 13)!r}),
        Case(args=({key2!r}, 29), expected={partition_for(key2, 29)!r}),
    ],
    "10.4-q2": [Case(args=({members!r}, 5), expected={assignment!r})],
    "10.4-q3": [
        Case(args=({{{part}: {end}}}, {{{part}: {committed}}}, {{{part}: 0}}),
             expected={{{part}: {end - committed}}}),
    ],
}}
'''
    found = (marker, token, str(part), str(end), str(committed), str(end - committed))
    return HiddenTests(text, found, {"10.4-q1": 2, "10.4-q2": 1, "10.4-q3": 1})


# --- notebooks ----------------------------------------------------------------------------


def cells_of(path: Path) -> list[str]:
    """The code cells of an attack file: the chunks after each `# %%` line."""
    chunks = re.split(r"^# %%[^\n]*\n", path.read_text(), flags=re.MULTILINE)
    return [chunk.strip() + "\n" for chunk in chunks[1:] if chunk.strip()]


def base_notebook(base: str) -> nbformat.NotebookNode:
    folder = {"blank": "labs", "solved": "solutions"}[base]
    notebook = nbformat.read(ROOT / folder / f"{LAB}.ipynb", as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return notebook


def attack_notebook(attack: Attack) -> nbformat.NotebookNode:
    notebook = base_notebook(attack.base)
    host_pidns = os.readlink("/proc/self/ns/pid")
    for source in cells_of(ATTACKS_DIR / "toolkit.py") + cells_of(ATTACKS_DIR / f"{attack.name}.py"):
        notebook.cells.append(new_code_cell(source.replace("__HOST_PIDNS__", host_pidns)))
    return notebook


# --- files before and after ---------------------------------------------------------------


@dataclass
class Area:
    """Files to watch: ``select(root)`` lists them; ``restore`` puts changed ones back after the batch."""

    label: str
    root: Path
    select: Callable[[Path], Iterator[Path]]
    restore: bool = False


def everything(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() or path.is_symlink():
            yield path


def without_pycache(root: Path) -> Iterator[Path]:
    return (path for path in everything(root) if "__pycache__" not in path.parts)


def install_files(root: Path) -> Iterator[Path]:
    """What in site-packages decides what `import course_lib` runs, plus anything an attack adds."""
    for pattern in ("*.pth", "__editable__*", "sitecustomize.py", "usercustomize.py", "course-attack*"):
        yield from sorted(root.glob(pattern))


def imported_course(env: dict[str, str], cwd: Path) -> Path:
    """The course_lib folder the grader's Python imports (the editable install: the project's)."""
    code = "import course_lib, pathlib; print(pathlib.Path(course_lib.__file__).resolve().parent)"
    found = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True)
    folder = Path(found.stdout.strip())
    assert found.returncode == 0 and folder.is_dir(), f"the grader's Python cannot import course_lib: {found}"
    return folder


def editable_sources(site_packages: Path) -> list[Path]:
    """The folders an editable install maps course_lib to (setuptools' finder names them)."""
    found = []
    for finder in sorted(site_packages.glob("__editable__*course_lib*finder.py")):
        found += [Path(folder) for folder in re.findall(r"'course_lib': '([^']+)'", finder.read_text())]
    return sorted(set(found))


def tmp_attack_files(root: Path) -> Iterator[Path]:
    return iter(sorted(root.glob(TMP_ATTACK_FILES)))


def fingerprint(path: Path) -> tuple[str, int, str]:
    if path.is_symlink():
        return ("symlink", 0, os.readlink(path))
    size = path.stat().st_size
    if size > HASH_LIMIT:
        return ("file", size, "")
    return ("file", size, hashlib.sha256(path.read_bytes()).hexdigest())


@dataclass
class Snapshot:
    areas: list[Area]
    prints: dict[Path, tuple[str, int, str]] = field(default_factory=dict)
    restorable: set[Path] = field(default_factory=set)  # files put_back may edit

    @classmethod
    def take(cls, areas: list[Area]) -> Snapshot:
        snapshot = cls(areas)
        for area in areas:
            for path in area.select(area.root) if area.root.exists() else ():
                snapshot.prints[path] = fingerprint(path)
                if area.restore and path.is_file() and not path.is_symlink():
                    snapshot.restorable.add(path)
        return snapshot

    def changes(self, after: Snapshot) -> list[str]:
        found = []
        for path in sorted(set(self.prints) | set(after.prints)):
            before, now = self.prints.get(path), after.prints.get(path)
            if before == now:
                continue
            if before is None and path.suffix == ".pyc" and "__pycache__" in path.parts:
                continue  # importing a module may compile it; edited .pyc files do count
            what = "new" if before is None else "deleted" if now is None else "changed"
            found.append(f"{what}: {path}")
        return found

    def put_back(self, after: Snapshot) -> None:
        """Undo what attacks did to files the test does not own (the project, the venv).

        Attacks append exactly PAYLOAD to those files; only that text is removed, and
        only files an attack created ("course-attack*") are deleted, so that someone
        editing the project while the tests run keeps their edits.
        """
        for area in self.areas:
            if not area.restore:
                continue
            for path in self.restorable:
                changed = path.is_relative_to(area.root) and after.prints.get(path) != self.prints[path]
                if changed and path.is_file() and not path.is_symlink():
                    data = path.read_bytes()
                    if PAYLOAD in data:
                        path.write_bytes(data.replace(PAYLOAD, b""))
            for path in after.prints:
                new = path not in self.prints and path.name.startswith("course-attack")
                if new and path.is_relative_to(area.root):
                    path.unlink()


# --- one command-line run -----------------------------------------------------------------


@dataclass
class BatchRun:
    name: str
    notebooks: list[str]
    survivors: list[int]  # attack processes still running after the grader exited
    returncode: int | None
    stdout: str
    stderr: str
    outputs: dict[str, bytes]  # file name in the output folder -> content, after any linger
    changes: list[str]  # files outside the output folder that changed, and late output edits
    results: dict | None
    rows: list[dict[str, str]] | None
    problems: list[str]  # why results or rows are missing

    def describe(self) -> str:
        tail = "\n".join(self.stderr.strip().splitlines()[-5:])
        return f"batch {self.name!r}: exit status {self.returncode}; stderr ends:\n{tail}"

    def submissions(self) -> dict[str, dict]:
        if not isinstance(self.results, dict):
            return {}
        entries = self.results.get("submissions", [self.results])
        return {Path(str(entry.get("notebook", ""))).name: entry for entry in entries}

    def csv_rows(self) -> dict[str, dict[str, str]]:
        return {Path(row.get("notebook") or "").name: row for row in self.rows or []}

    def submission(self, notebook: str) -> dict:
        found = self.submissions().get(notebook)
        assert found is not None, f"no JSON result for {notebook}: {self.problems}\n{self.describe()}"
        return found

    def not_sandboxed(self) -> str:
        """The grader's "not sandboxed: <why>" line, or ""."""
        texts = [self.stdout, self.stderr, *(data.decode(errors="replace") for data in self.outputs.values())]
        for text in texts:
            for line in text.splitlines():
                if NOT_SANDBOXED in line.lower():
                    return line.strip()
        return ""


def run_batch(name: str, attacks: list[Attack], folder: Path, hidden: HiddenTests) -> BatchRun:
    submissions, hidden_dir, out, cwd = (
        folder / "submissions",
        folder / "hidden",
        folder / "out",
        folder / "cwd",
    )
    for path in (submissions, hidden_dir, out, cwd):
        path.mkdir(parents=True)
    (hidden_dir / f"{LAB}.py").write_text(hidden.text)
    for attack in attacks:
        nbformat.write(attack_notebook(attack), submissions / attack.notebook)
    for notebook, base in HONEST.items():
        nbformat.write(base_notebook(base), submissions / notebook)
    notebooks = sorted(path.name for path in submissions.glob("*.ipynb"))

    env = dict(os.environ)
    site_packages = Path(sysconfig.get_paths()["purelib"])
    courses = dict.fromkeys(
        [imported_course(env, cwd), ROOT / "course_lib", *editable_sources(site_packages)]
    )
    areas = [
        Area("submissions", submissions, everything),
        Area("hidden tests", hidden_dir, everything),
        *(Area("course_lib", course, without_pycache, restore=True) for course in courses),
        Area("site-packages", site_packages, install_files, restore=True),
        Area("/tmp", Path("/tmp"), tmp_attack_files),
    ]
    before = Snapshot.take(areas)
    json_path, csv_path = out / "results.json", out / "grades.csv"
    command = [
        sys.executable,
        "-m",
        "course_lib.grading",
        str(submissions),
        "--hidden",
        str(hidden_dir),
        "--json",
        str(json_path),
        "--csv",
        str(csv_path),
    ]
    stdout_path, stderr_path = folder / "stdout.txt", folder / "stderr.txt"
    earlier = attack_processes()
    survivors: list[int] = []
    try:
        returncode, at_exit, outputs = grade(
            command, cwd, env, stdout_path, stderr_path, out, linger=name in LINGERING_BATCHES
        )
        survivors = sorted(attack_processes() - earlier)
    finally:
        end_processes(attack_processes() - earlier)
        after = Snapshot.take(areas)
        before.put_back(after)
        remove_attack_leftovers(submissions)
    changes = before.changes(after)
    late = sorted(name for name in set(at_exit) | set(outputs) if at_exit.get(name) != outputs.get(name))
    changes += [f"changed after the grader exited: {out / name}" for name in late]

    problems: list[str] = []
    results = rows = None
    try:
        results = json.loads(outputs["results.json"])
    except (KeyError, ValueError) as error:
        problems.append(f"results.json: {type(error).__name__}: {error}")
    try:
        rows = list(csv.DictReader(io.StringIO(outputs["grades.csv"].decode())))
    except (KeyError, ValueError) as error:
        problems.append(f"grades.csv: {type(error).__name__}: {error}")
    return BatchRun(
        name,
        notebooks,
        survivors,
        returncode,
        stdout_path.read_text(errors="replace"),
        stderr_path.read_text(errors="replace"),
        outputs,
        changes,
        results,
        rows,
        problems,
    )


def grade(
    command: list[str],
    cwd: Path,
    env: dict[str, str],
    stdout_path: Path,
    stderr_path: Path,
    out: Path,
    linger: bool,
) -> tuple[int | None, dict[str, bytes], dict[str, bytes]]:
    """Run the grader; its exit status, and the output folder's files at exit and after any linger."""
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        # Files, not pipes: a detached process holding a pipe open would keep us waiting.
        # A session of its own, so that killing the grader's process group cannot reach pytest.
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            returncode: int | None = process.wait(timeout=BATCH_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            returncode = None
    at_exit = read_outputs(out)
    if linger:
        time.sleep(LINGER)
    return returncode, at_exit, read_outputs(out)


def read_outputs(out: Path) -> dict[str, bytes]:
    found = {}
    for path in sorted(out.rglob("*")):
        try:
            if path.is_file():
                found[str(path.relative_to(out))] = path.read_bytes()
        except OSError:
            continue
    return found


def attack_processes() -> set[int]:
    """Processes named "course-attack": the ones attacks start to outlive their notebook."""
    found = set()
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "comm").read_text().strip() == "course-attack":
                found.add(int(proc.name))
        except OSError:
            continue
    return found


def end_processes(pids: set[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def remove_attack_leftovers(submissions: Path) -> None:
    """Attack leftovers: the 3 GiB file, the replayed inputs (after the snapshot saw them)."""
    for path in [*submissions.glob(TMP_ATTACK_FILES), *Path("/tmp").glob(TMP_ATTACK_FILES)]:
        try:
            path.unlink()
        except OSError:
            pass


class Batches:
    """Runs each batch at most once per session, the control batch first."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.hidden = make_hidden_tests()
        self.runs: dict[str, BatchRun] = {}

    def run(self, name: str) -> BatchRun:
        if name not in self.runs:
            attacks = self.attacks(name)
            if name != CONTROL and not attacks:
                pytest.skip(f"every attack of batch {name!r} needs the sandbox: {self.sandbox_problem()}")
            self.runs[name] = run_batch(name, attacks, self.base / name, self.hidden)
        return self.runs[name]

    def sandbox_problem(self) -> str:
        return self.run(CONTROL).not_sandboxed()

    def attacks(self, name: str) -> list[Attack]:
        chosen = [attack for attack in ATTACKS if attack.batch == name]
        if any(attack.needs_sandbox for attack in chosen) and self.sandbox_problem():
            chosen = [attack for attack in chosen if not attack.needs_sandbox]
        return chosen

    def run_for(self, attack: Attack) -> BatchRun:
        if attack.needs_sandbox and self.sandbox_problem():
            pytest.skip(f"only a sandbox stops {attack.name}, and the grader says: {self.sandbox_problem()}")
        return self.run(attack.batch)


@pytest.fixture(scope="session")
def batches(tmp_path_factory: pytest.TempPathFactory) -> Batches:
    return Batches(tmp_path_factory.mktemp("grading-attacks"))


# --- what the results say -----------------------------------------------------------------

QUESTIONS = {question.id: question for question in questions_for_lab(LAB)}
FULL = sum(question.points for question in QUESTIONS.values())


def question_scores(submission: dict) -> dict[str, float]:
    return {str(test["name"]).split()[0]: float(test["score"]) for test in submission.get("tests", [])}


def public_share(question_id: str, hidden: HiddenTests) -> float:
    """What answering exactly the public cases earns (hidden cases weigh at least as much)."""
    question = QUESTIONS[question_id]
    public = len(question.public)
    return question.points * public / (public + hidden.counts.get(question_id, 0))


def score_problems(
    run: BatchRun, notebook: str, base: str, hidden: HiddenTests, public_lookup: bool = False
) -> list[str]:
    """Why the notebook's grade is not what its honest answers deserve ([] if it is)."""
    submission = run.submissions().get(notebook)
    if submission is None:
        return [f"{notebook}: no JSON result ({'; '.join(run.problems) or 'missing from the JSON'})"]
    problems = []
    scores = question_scores(submission)
    if set(scores) != set(QUESTIONS):
        problems.append(f"{notebook}: questions {sorted(scores)}, expected {sorted(QUESTIONS)}")
    for question_id, question in QUESTIONS.items():
        got = scores.get(question_id)
        if got is None:
            continue
        if base == "solved":
            wanted, ok = f"{question.points:g}", got == question.points
        elif public_lookup:
            bound = public_share(question_id, hidden)
            wanted, ok = f"at most {bound:.3g} (public tests only)", got <= bound + 1e-9
        else:
            wanted, ok = "0", got == 0
        if not ok:
            problems.append(f"{notebook}: {question_id} scored {got:g}, expected {wanted}")
    total = float(submission.get("score", -1))
    if base == "solved" and total != FULL:
        problems.append(f"{notebook}: total {total:g}, expected {FULL:g}")
    if base == "blank" and not public_lookup and total != 0:
        problems.append(f"{notebook}: total {total:g}, expected 0")
    row = run.csv_rows().get(notebook)
    if row is not None and row.get("total") not in (None, "") and float(row["total"]) != round(total, 2):
        problems.append(f"{notebook}: the CSV says {row['total']}, the JSON {total:g}")
    return problems


def leaks(run: BatchRun, hidden: HiddenTests) -> list[str]:
    channels = {"stdout": run.stdout, "stderr": run.stderr}
    channels.update({f"out/{name}": data.decode(errors="replace") for name, data in run.outputs.items()})
    found = []
    for channel, text in channels.items():
        for secret in hidden.secrets:
            if secret in text:
                where = ""
                for notebook, submission in run.submissions().items():
                    if channel.endswith(".json") and secret in json.dumps(submission, ensure_ascii=False):
                        where = f" (in the result of {notebook})"
                        break
                found.append(f"{secret!r} in {channel}{where}")
    return found


def completeness_problems(run: BatchRun) -> list[str]:
    problems = []
    if run.returncode != 0:
        problems.append(run.describe())
    problems += run.problems
    for label, graded in (("JSON", run.submissions()), ("CSV", run.csv_rows())):
        if graded or not run.problems:
            missing = sorted(set(run.notebooks) - set(graded))
            extra = sorted(set(graded) - set(run.notebooks))
            if missing:
                problems.append(f"no {label} result for {', '.join(missing)}")
            if extra:
                problems.append(f"{label} results for notebooks not in the batch: {', '.join(extra)}")
    return problems


def report(run: BatchRun, problems: list[str]) -> str:
    return f"batch {run.name!r} ({', '.join(run.notebooks)}):\n  " + "\n  ".join(problems)


# --- the control batch --------------------------------------------------------------------


def test_control_the_honest_notebooks_alone_score_full_and_zero(batches):
    run = batches.run(CONTROL)
    problems = completeness_problems(run) + run.changes + leaks(run, batches.hidden)
    problems += [f"{len(run.survivors)} attack processes outlived the grader"] if run.survivors else []
    for notebook, base in HONEST.items():
        problems += score_problems(run, notebook, base, batches.hidden)
    assert not problems, report(run, problems)


def test_control_the_grader_is_sandboxed_in_ci(batches):
    problem = batches.sandbox_problem()
    if problem and os.environ.get("CI"):
        pytest.fail(f"CI must grade in the sandbox (.ci/run installs bubblewrap); the grader says: {problem}")
    if problem:
        pytest.skip(f"the grader says: {problem}")


# --- per attack ---------------------------------------------------------------------------

by_attack = pytest.mark.parametrize("attack", ATTACKS, ids=str)


@by_attack
def test_a_the_attack_scores_what_its_honest_answers_deserve(attack, batches):
    run = batches.run_for(attack)
    problems = score_problems(run, attack.notebook, attack.base, batches.hidden, attack.public_lookup)
    assert not problems, report(run, problems)


@by_attack
def test_b_the_honest_notebooks_beside_it_keep_their_scores(attack, batches):
    run = batches.run_for(attack)
    problems = [
        problem
        for notebook, base in HONEST.items()
        for problem in score_problems(run, notebook, base, batches.hidden)
    ]
    assert not problems, report(run, problems)


@by_attack
def test_c_no_file_outside_the_output_folder_changes(attack, batches):
    run = batches.run_for(attack)
    problems = run.changes
    assert not problems, report(run, problems)


@by_attack
def test_d_no_hidden_test_text_reaches_any_output(attack, batches):
    run = batches.run_for(attack)
    problems = leaks(run, batches.hidden)
    assert not problems, report(run, problems)


@by_attack
def test_e_the_batch_completes_with_every_result(attack, batches):
    run = batches.run_for(attack)
    problems = completeness_problems(run)
    assert not problems, report(run, problems)


@by_attack
def test_f_nothing_it_started_outlives_the_grader(attack, batches):
    run = batches.run_for(attack)
    problems = [f"{len(run.survivors)} attack processes still running"] if run.survivors else []
    assert not problems, report(run, problems)


@pytest.mark.parametrize("attack", [attack for attack in ATTACKS if attack.refused], ids=str)
def test_a_refused_reference_says_so(attack, batches):
    run = batches.run_for(attack)
    tests = {
        str(test["name"]).split()[0]: str(test.get("output", ""))
        for test in run.submission(attack.notebook).get("tests", [])
    }
    for question_id in attack.refused:
        output = tests.get(question_id, "")
        assert "yourself" in output, f"{question_id}: {output}"
