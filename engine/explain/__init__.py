"""Why a model answered what it did, in words a non-coder can read.

- per answer (engine.explain.attributions): Captum's integrated gradients — over the pixels of a picture, the word
  vectors of a text (word pieces merged back into words for the pretrained text model), the encoded cells of a
  row summed back into the user's own columns — and, for a recommendation, the user's own rated items nearest to
  each recommended item in the model's space;
- for the whole model (engine.explain.importance): scikit-learn's permutation importance of a table's columns on
  the run's test split.

Every result is a plain dict (numbers, strings, lists) so the dashboard, the command line and the HTTP service
show the same thing; `method` names how it was computed and `sentence` says it in plain words.
"""

APPROXIMATION = ("Attributions are an approximation: they show which parts of this input the model leaned on, "
                 "not a proof of why.")
