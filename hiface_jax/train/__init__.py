"""Training HiFace at scale: the sharded train step with its non-finite guard (``step``),
the optimiser and schedule (``optim``), checkpoints that resume by themselves
(``checkpoint``) and metrics (``metrics``). ``launch/train.py`` is the loop that joins them."""
