"""Tabular and bag-of-words datasets for the linear (logistic regression) experiments.

Inputs are float32 tensors with named columns (``extra["feature_names"]``) so that features such
as ``marital-status=Married-civ-spouse`` or the word ``vince`` can be unlearned by name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import train_test_split

from .arrays import ArrayDataset, DataBundle
from .images import SPLIT_SEED
from .sources import extract, fetch

ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
    "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country", "income",
]
UCI = "https://archive.ics.uci.edu/ml/machine-learning-databases/adult/"


def _standardize(train: pd.DataFrame, test: pd.DataFrame, numeric: list[str]):
    mu, sd = train[numeric].mean(), train[numeric].std().replace(0, 1)
    train, test = train.copy(), test.copy()
    train[numeric] = (train[numeric] - mu) / sd  # test uses the train statistics
    test[numeric] = (test[numeric] - mu) / sd
    return train, test


def _bundle(name, xtr, ytr, xte, yte, names, classes, **extra) -> DataBundle:
    t = lambda a: torch.tensor(np.asarray(a, dtype=np.float32))
    train = ArrayDataset(t(xtr), torch.tensor(np.asarray(ytr)))
    test = ArrayDataset(t(xte), torch.tensor(np.asarray(yte)))
    return DataBundle(name, train, test, classes, {"feature_names": list(names), **extra})


def load_adult() -> DataBundle:
    """UCI Adult: 6 numeric columns standardised, 8 categorical one-hot (names ``col=value``);
    rows with missing values dropped; label 1 = income >50K. The official train/test files."""
    read = lambda p, skip: pd.read_csv(p, names=ADULT_COLUMNS, skipinitialspace=True, na_values="?", skiprows=skip)
    tr = read(fetch("adult", "adult/adult.data", url=UCI + "adult.data"), 0).dropna()
    te = read(fetch("adult", "adult/adult.test", url=UCI + "adult.test"), 1).dropna()
    ytr = tr.pop("income").str.startswith(">50K").astype(int)
    yte = te.pop("income").str.startswith(">50K").astype(int)  # the test file writes ">50K."
    numeric = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
    tr, te = _standardize(tr, te, numeric)
    both = pd.get_dummies(pd.concat([tr, te]), prefix_sep="=", dtype=np.float32)  # same columns in both
    xtr, xte = both.iloc[: len(tr)], both.iloc[len(tr) :]
    return _bundle("adult", xtr.values, ytr.values, xte.values, yte.values, both.columns, ["<=50K", ">50K"])


def load_diabetes() -> DataBundle:
    """Pima Indians Diabetes (768 rows, 8 features, standardised); 75/25 stratified split."""
    url = "https://raw.githubusercontent.com/plotly/datasets/master/diabetes.csv"
    df = pd.read_csv(fetch("diabetes", "diabetes/diabetes.csv", url=url))
    y = df.pop("Outcome").values
    tr, te, ytr, yte = train_test_split(df, y, test_size=0.25, stratify=y, random_state=SPLIT_SEED)
    tr, te = _standardize(tr, te, list(df.columns))
    return _bundle("diabetes", tr.values, ytr, te.values, yte, df.columns, ["negative", "positive"])


def bag_of_words(train_texts, test_texts, max_features: int, min_df: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Binary bag-of-words over the ``max_features`` terms found in most training documents (at least
    ``min_df``), ties at the cut broken alphabetically: (x_train, x_test, names), columns in alphabetical
    order. Not CountVectorizer(max_features=...): it cuts its ranking with numpy's unstable argsort, whose
    order of tied counts differs between CPUs (AVX-512 and baseline sort kernels), so the chosen words did too."""
    from sklearn.feature_extraction.text import CountVectorizer

    vec = CountVectorizer(binary=True, min_df=min_df, token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b")
    xtr = vec.fit_transform(train_texts)  # vocabulary from the training part only, columns alphabetical
    df = np.asarray(xtr.sum(axis=0)).ravel()
    keep = np.sort(np.argsort(-df, kind="stable")[:max_features])  # stable: ties keep alphabetical order
    xte = vec.transform(test_texts)
    return xtr[:, keep].toarray(), xte[:, keep].toarray(), vec.get_feature_names_out()[keep]


def load_enron(max_features: int = 5000, min_df: int = 2) -> DataBundle:
    """Enron1 ham/spam (Metsis et al. 2006) as binary bag-of-words over the ``max_features`` most
    frequent tokens (:func:`bag_of_words`); label 1 = spam; 75/25 stratified split. ``extra['vocabulary']``
    maps word -> column."""
    url = "http://www2.aueb.gr/users/ion/data/enron-spam/preprocessed/enron1.tar.gz"
    root = extract(fetch("enron", "enron/enron1.tar.gz", url=url), "enron1")
    files = sorted((root / "ham").glob("*.txt")) + sorted((root / "spam").glob("*.txt"))
    texts = [f.read_text(encoding="latin-1") for f in files]
    y = np.array([0 if f.parent.name == "ham" else 1 for f in files])
    ttr, tte, ytr, yte = train_test_split(texts, y, test_size=0.25, stratify=y, random_state=SPLIT_SEED)
    xtr, xte, names = bag_of_words(ttr, tte, max_features, min_df)
    vocabulary = {str(w): i for i, w in enumerate(names)}
    return _bundle("enron", xtr, ytr, xte, yte, names, ["ham", "spam"], vocabulary=vocabulary)
