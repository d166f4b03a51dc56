"""The exam catalogue: what one exam code costs to read and who should read it.

Work RVUs are CMS 2026 physician fee schedule values and read times the published means
quoted in ../shared/docs/domain.md (Sexauer 2022 for CT; radiograph 2-5 min, ultrasound
4-7 min, brain MRI ~11 min). Where a figure is not in domain.md it is marked "estimate".
An order whose code is not here is still assigned: it falls back to its modality's
defaults (MODALITY_DEFAULTS), so an unknown code never strands an order.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"
DICOM_MODALITY_SYSTEM = "http://dicom.nema.org/resources/ontology/DCM"


@dataclass(frozen=True, slots=True)
class ExamKind:
    code: str
    display: str
    modality: str  # DICOM modality code
    rvu: float  # work RVU
    read_minutes: float  # mean attending read time
    subspecialty: str | None = None  # preferred subspecialty (.../CodeSystem/subspecialty)


_KINDS = (
    ExamKind("71045", "X-ray chest, 1 view", "DX", 0.18, 3.0, "chest"),
    ExamKind("71046", "X-ray chest, 2 views", "DX", 0.21, 3.5, "chest"),
    ExamKind("70450", "CT head without contrast", "CT", 0.83, 16.1, "neuro"),
    ExamKind("71250", "CT chest without contrast", "CT", 1.05, 15.8, "chest"),
    ExamKind("74176", "CT abdomen and pelvis without contrast", "CT", 1.70, 17.9, "body"),
    ExamKind("74177", "CT abdomen and pelvis with contrast", "CT", 1.77, 17.9, "body"),
    ExamKind("74178", "CT abdomen and pelvis without and with contrast", "CT", 1.96, 17.9, "body"),
    ExamKind("70551", "MRI brain without contrast", "MR", 1.44, 11.0, "neuro"),
    ExamKind("72148", "MRI lumbar spine without contrast", "MR", 1.44, 12.0, "msk"),  # estimate
    ExamKind("73721", "MRI knee without contrast", "MR", 1.32, 12.0, "msk"),  # estimate
    ExamKind("76700", "Ultrasound abdomen, complete", "US", 0.79, 5.5, "body"),
    ExamKind("77067", "Screening mammography, bilateral", "MG", 0.74, 5.0, "breast"),  # estimate
)
CATALOGUE = MappingProxyType({kind.code: kind for kind in _KINDS})

# Per modality when the code is unknown: the catalogue's means, conservative (estimates).
MODALITY_DEFAULTS = MappingProxyType(
    {
        "CT": (1.20, 18.0),
        "MR": (1.40, 12.0),
        "DX": (0.20, 3.5),
        "CR": (0.20, 3.5),
        "US": (0.80, 6.0),
        "MG": (0.75, 5.0),
        "NM": (1.00, 15.0),
        "PT": (1.50, 20.0),
        "XA": (1.00, 15.0),
    }
)
UNKNOWN_EXAM = (1.50, 20.0)  # neither code nor modality known: assume a long read


def exam_kind(code: str | None) -> ExamKind | None:
    return CATALOGUE.get(code or "")


def cost(code: str | None, modality: str | None) -> tuple[float, float]:
    """(work RVU, read minutes) of an exam from its code, else its modality."""
    kind = exam_kind(code)
    if kind is not None:
        return kind.rvu, kind.read_minutes
    return MODALITY_DEFAULTS.get(modality or "", UNKNOWN_EXAM)
