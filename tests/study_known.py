"""Known answers shared by the tests: the study's Table 1 as printed and what its upstream
scripts (``Fine-tuning_with_DeePMD_data/ft<size>_pt<N>/<k>_model/*.sh`` at the pinned
commit) pass to ``mace_run_train``. Transcribed by hand from the text and the scripts."""

#: Table 1 as the study prints it: (bulk, interstitial) -> replay sizes
TABLE1_TEXT = {(10, 100): {1000}, (10, 200): {0, 100, 1000}, (10, 400): {1000},
               (10, 700): {0, 100, 1000, 10000}, (100, 700): {0, 100, 1000, 10000},
               (200, 1400): {1000}}
#: what the upstream scripts pass, per (size, N_pt): train, valid, pt_train, num_samples,
#: max_num_epochs (every published script; seeds 1 and 2 alike)
SCRIPTS = {
    ((10, 200), 1000): ("200-REF_train.xyz", "200-REF_valid.xyz",
                        "train_mp_finetuning-MACE_900.xyz", 1000, 800),
    ((10, 400), 1000): ("400-REF_train.xyz", "400-REF_valid.xyz",
                        "train_mp_finetuning-MACE_900.xyz", 1000, 800),
    ((10, 700), 0): ("700-REF_train.xyz", "700-REF_valid.xyz", None, None, 800),
    ((10, 700), 100): ("700-REF_train.xyz", "700-REF_valid.xyz",
                       "train_mp_finetuning-MACE_100.xyz", 200, 800),
    ((10, 700), 1000): ("700-REF_train.xyz", "700-REF_valid.xyz",
                        "train_mp_finetuning-MACE_900.xyz", 1000, 800),
    ((10, 700), 10000): ("700-REF_train.xyz", "700-REF_valid.xyz",
                         "REF_10000_mp_finetuning-MACE_run-1.xyz", 1000, 400),
    ((100, 700), 0): ("bulk-700-REF_train.xyz", "bulk-700-REF_valid.xyz", None, None, 800),
    ((100, 700), 100): ("bulk-700-REF_train.xyz", "bulk-700-REF_valid.xyz",
                        "train_mp_finetuning-MACE_100.xyz", 200, 800),
    ((100, 700), 1000): ("bulk-700-REF_train.xyz", "bulk-700-REF_valid.xyz",
                         "train_mp_finetuning-MACE_900.xyz", 1000, 800),
    ((100, 700), 10000): ("bulk-700-REF_train.xyz", "bulk-700-REF_valid.xyz",
                          "REF_10000_mp_finetuning-MACE_run-1.xyz", 1000, 400),
    ((200, 1400), 1000): ("1600-REF_train.xyz", "400-REF_valid.xyz",
                          "train_mp_finetuning-MACE_900.xyz", 1000, 800),
}
