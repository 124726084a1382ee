"""Data made in code (or shipped with the package), one small seeded function per task.

- :mod:`attnbook.data.dates`: dates in several formats → ISO 8601 (chapter 4's translation task).
- :mod:`attnbook.data.text`: a character tokenizer, the shipped public-domain text, LM batches.
- :mod:`attnbook.data.reordering`: an SVO → SOV "translation" with reordering (chapter 5).
- :mod:`attnbook.data.sentiment`: reviews whose last opinion word decides the label (chapters 5, 6).
- :mod:`attnbook.data.digits`: scikit-learn's 8×8 digits as tensors, a fixed split (chapter 5).
- :mod:`attnbook.data.timeseries`: seasonal series with a regime change, forecast windows (chapter 5).
- :mod:`attnbook.data.sessions`: user histories with known clusters and transitions (chapter 5).
"""

from .dates import (
    DATE_FORMATS,
    date_tokenizer,
    encode_pairs,
    format_date,
    length_bucketed_batches,
    make_date_pairs,
    make_date_splits,
    pad_sequences,
)
from .digits import load_digits_tensors, make_digits_splits
from .reordering import (
    REORDERING_VOCABULARY,
    ReorderingPair,
    encode_reordering_pairs,
    make_reordering_pairs,
    make_reordering_splits,
    reordering_words,
)
from .sentiment import (
    SENTIMENT_VOCABULARY,
    SentimentData,
    make_sentiment_data,
    sentiment_label,
    sentiment_words,
)
from .sessions import Sessions, make_sessions, next_item_examples
from .text import TEXTS, CharTokenizer, load_text, sample_batch, sequential_batches, split_ids
from .timeseries import SeasonalSeries, make_forecast_windows, make_seasonal_series

__all__ = [
    "DATE_FORMATS",
    "TEXTS",
    "CharTokenizer",
    "date_tokenizer",
    "encode_pairs",
    "format_date",
    "length_bucketed_batches",
    "load_text",
    "make_date_pairs",
    "make_date_splits",
    "pad_sequences",
    "sample_batch",
    "sequential_batches",
    "split_ids",
    # chapter 5
    "REORDERING_VOCABULARY",
    "SENTIMENT_VOCABULARY",
    "ReorderingPair",
    "SeasonalSeries",
    "SentimentData",
    "Sessions",
    "encode_reordering_pairs",
    "load_digits_tensors",
    "make_digits_splits",
    "make_forecast_windows",
    "make_reordering_pairs",
    "make_reordering_splits",
    "make_seasonal_series",
    "make_sentiment_data",
    "make_sessions",
    "next_item_examples",
    "reordering_words",
    "sentiment_label",
    "sentiment_words",
]
