"""Evaluation.

physics, probes          physical checks and prompt-following probes (no learned evaluator)
probe_report             `momug eval probes`: the two together, with the data as ground truth
styles                   `momug eval styles`: slow against lively style words in walks and runs, and the
                         same rule on the real clips
sentence                 the shipped frozen sentence encoder (MiniLM): sentence and token vectors
matching                 the text/motion matching evaluator (Guo et al. style), save/load
train_matching           its contrastive training on a HumanML3D-format folder
official                 loader for Guo et al.'s released evaluator + GloVe, when the user has them
metrics                  R-precision, MM-Dist, FID, Diversity, MultiModality, 95% intervals
text_metrics             BLEU-1/4, ROUGE-L, CIDEr-D, BERTScore-style F1 (MiniLM token vectors)
protocol                 the text-to-motion and motion-to-text protocols (what is drawn and compared)
adapters                 a MotionPipeline as the protocols' generate/describe functions
report                   the printed tables
"""
