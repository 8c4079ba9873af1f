"""ifexplorer: exact influence functions of wide two-layer ReLU networks in the NTK regime."""
from .data import DataError, Dataset, available_datasets, load_dataset, load_uploaded_archive
from .device import InsufficientMemoryError, device_label, resolve_device
from .influence import ErrorBounds, NTKInfluence, TopInfluences, top_influences
from .kernels import ntk_relu, ntk_two_layer
from .results import TopInfluencesBatch

__all__ = [
    "NTKInfluence", "TopInfluences", "TopInfluencesBatch", "ErrorBounds", "top_influences", "ntk_two_layer",
    "ntk_relu",
    "InsufficientMemoryError", "device_label", "resolve_device",
    "Dataset", "DataError", "load_dataset", "load_uploaded_archive", "available_datasets",
]
__version__ = "0.1.0"
