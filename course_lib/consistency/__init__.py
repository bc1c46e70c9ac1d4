"""Consistency under partitions: a linearizability checker, CP and AP registers, CAP and PACELC measured.

Three ideas, one module each:

* **Checking** (:mod:`~course_lib.consistency.checker`).
  :func:`check_linearizable` decides whether a history of reads, writes and
  compare-and-sets could have come from *one* copy of the data, each operation
  taking effect at a single instant between its invocation and its completion.
  :mod:`~course_lib.consistency.jepsen` reads the logs Jepsen wrote while
  testing etcd (:func:`parse_jepsen_log`) and checks a folder of them against
  their known verdicts (:func:`check_corpus`).
* **Choosing** (:mod:`~course_lib.consistency.registers`). :class:`CPRegister`
  (majority quorum: the minority side of a partition refuses) and
  :class:`APRegister` (every node answers; replicas diverge and reconcile by
  last-write-wins after the heal) run on :mod:`course_lib.netsim`.
* **Paying** (:mod:`~course_lib.consistency.experiments`).
  :func:`run_experiment` drives either register with a workload and a
  partition nemesis and reports availability, latency percentiles and the
  checker's verdict: CAP, measured. :func:`pacelc_measure` runs the same
  workload with no partition at all: waiting for replicas costs latency, not
  waiting costs stale reads.

Everything is importable from here: ``from course_lib.consistency import check_linearizable``.
"""

from course_lib.consistency.checker import (
    INF,
    KEY_VALUE,
    NIL,
    REGISTER,
    CheckOp,
    KeyResult,
    Model,
    Verdict,
    as_check_ops,
    check_linearizable,
    from_operations,
    register_step,
)
from course_lib.consistency.experiments import (
    PACELC_CLASSES,
    SYSTEMS,
    ExperimentResult,
    PacelcRow,
    make_register,
    pacelc_measure,
    run_experiment,
)
from course_lib.consistency.jepsen import check_corpus, load_verdicts, parse_jepsen_log
from course_lib.consistency.registers import (
    APRegister,
    APReplica,
    CPRegister,
    CPReplica,
    RegisterClient,
    RegisterCluster,
    Stamp,
    Workload,
)

__all__ = [
    # checker
    "INF",
    "NIL",
    "CheckOp",
    "from_operations",
    "as_check_ops",
    "Model",
    "register_step",
    "REGISTER",
    "KEY_VALUE",
    "KeyResult",
    "Verdict",
    "check_linearizable",
    # jepsen
    "parse_jepsen_log",
    "load_verdicts",
    "check_corpus",
    # registers
    "Stamp",
    "Workload",
    "RegisterClient",
    "RegisterCluster",
    "CPReplica",
    "CPRegister",
    "APReplica",
    "APRegister",
    # experiments
    "SYSTEMS",
    "make_register",
    "ExperimentResult",
    "run_experiment",
    "PACELC_CLASSES",
    "PacelcRow",
    "pacelc_measure",
]
