"""What goes into the desktop bundle and what is left out, shared by the PyInstaller spec and
the test that checks the exclusions against what the app imports (tests/test_bundle_contents.py).
"""

from __future__ import annotations

import re

# Training stays with a Python install (`pip install hydrodiag[train]`): torch alone is larger
# than the whole bundle. The `training` package itself comes along (its config is torch-free
# and the CLI reads it); the commands that need torch say what to install (app/cli.py).
TRAINING_MODULES = ["torch", "torch_geometric", "sklearn", "onnx", "onnxscript"]

# Qt modules the app never imports (tests/test_bundle_contents.py checks the list against what
# the CLI and the GUI load): QML/Quick, WebEngine, Designer, multimedia, 3D, charts, ...
EXCLUDED_QT_MODULES = [
    f"PySide6.{name}"
    for name in [
        "Qt3DAnimation",
        "Qt3DCore",
        "Qt3DExtras",
        "Qt3DInput",
        "Qt3DLogic",
        "Qt3DRender",
        "QtBluetooth",
        "QtCharts",
        "QtConcurrent",
        "QtDataVisualization",
        "QtDesigner",
        "QtGraphs",
        "QtHelp",
        "QtHttpServer",
        "QtLocation",
        "QtMultimedia",
        "QtMultimediaWidgets",
        "QtNetwork",
        "QtNetworkAuth",
        "QtNfc",
        "QtOpenGL",
        "QtOpenGLWidgets",
        "QtPdf",
        "QtPdfWidgets",
        "QtPositioning",
        "QtPrintSupport",
        "QtQml",
        "QtQuick",
        "QtQuick3D",
        "QtQuickControls2",
        "QtQuickWidgets",
        "QtRemoteObjects",
        "QtScxml",
        "QtSensors",
        "QtSerialBus",
        "QtSerialPort",
        "QtSpatialAudio",
        "QtSql",
        "QtStateMachine",
        "QtSvg",
        "QtSvgWidgets",
        "QtTest",
        "QtTextToSpeech",
        "QtUiTools",
        "QtWebChannel",
        "QtWebEngineCore",
        "QtWebEngineQuick",
        "QtWebEngineWidgets",
        "QtWebSockets",
        "QtWebView",
        "QtXml",
    ]
]

# Parts of pyarrow the workspace never uses (DuckDB takes Arrow tables through the C stream).
EXCLUDED_ARROW_MODULES = [
    "pyarrow.flight", "pyarrow._flight", "pyarrow.parquet", "pyarrow._parquet",
    "pyarrow._parquet_encryption", "pyarrow.orc", "pyarrow._orc",
    "pyarrow._s3fs", "pyarrow._gcsfs", "pyarrow._azurefs",
    "pyarrow._hdfs", "pyarrow.cuda", "pyarrow._cuda", "pyarrow.gandiva",
    "pyarrow._dataset_orc", "pyarrow._dataset_parquet", "pyarrow._dataset_parquet_encryption",
]  # fmt: skip

EXCLUDED_MODULES = [
    *TRAINING_MODULES,
    *EXCLUDED_QT_MODULES,
    *EXCLUDED_ARROW_MODULES,
    "pandas", "scipy", "matplotlib", "IPython", "tkinter", "pytest", "umodbus", "pypdf",
]  # fmt: skip

# Shared libraries of excluded parts that PyInstaller still collects with their package.
_DROP_BINARY = re.compile(
    r"("
    r"libarrow_(flight|s3)|libarrow_python_(flight|parquet)"
    r"|libQt6(Network|OpenGL|OpenGLWidgets|Svg|Test|Pdf|Qml|Quick|WaylandClient|WlShell"
    r"|EglFs|EglFSDevice)"
    r"|plugins/(wayland|egldeviceintegrations|networkinformation|tls"
    r"|generic|iconengines)"
    r"|platforms/libq(eglfs|linuxfb|minimal|minimalegl|vkkhrdisplay|vnc|wayland)"
    r"|onnxruntime_providers_(cuda|tensorrt)"
    r")"
)
_DROP_DATA = re.compile(r"(PySide6/Qt/translations/|pyarrow/include/|pyarrow/src/|/tests?/)")


def keep_binary(dest: str) -> bool:
    return not _DROP_BINARY.search(dest.replace("\\", "/"))


def keep_data(dest: str) -> bool:
    return not _DROP_DATA.search(dest.replace("\\", "/"))
