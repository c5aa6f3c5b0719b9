"""The IPR mixed loss against hand computations, and masking of observation tokens in log-probs."""

import math
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from ipr.training.common import logps_from_logits, target_logps
from ipr.training.mixed_loss import mixed_loss, sequence_logps


def logsig(x):
    return -math.log1p(math.exp(-x))


def dpo(pc, pr, rc, rr, beta, ls=0.0):
    z = (pc - rc) - (pr - rr)
    return -(1 - ls) * logsig(beta * z) - ls * logsig(-beta * z)


PC, PR = [-10.0, -12.0, -7.0, -20.0], [-11.0, -9.0, -8.5, -19.0]
RC, RR = [-10.5, -11.0, -7.5, -21.0], [-10.0, -10.0, -8.0, -18.0]
NLL, TOK = [10.0, 12.0, 7.0, 20.0], [5, 6, 3, 8]
KINDS = ["outcome", "step", "step", "outcome"]


def run(kinds=KINDS, beta=0.1, weights=None, ls=0.0, norm="token", n=4):
    t = lambda xs: torch.tensor(xs[:n], dtype=torch.float64)
    weights = weights or {"outcome_weight": 1.0, "step_weight": 1.0, "sft_weight": 1.0}
    return mixed_loss(t(PC), t(PR), t(RC), t(RR), t(NLL), torch.tensor(TOK[:n]), kinds[:n], beta, weights, ls, norm)


@pytest.mark.parametrize("ls", [0.0, 0.2])
@pytest.mark.parametrize("norm", ["token", "sum"])
def test_mixed_loss_matches_hand_computation(ls, norm):
    beta, w = 0.5, {"outcome_weight": 0.7, "step_weight": 1.3, "sft_weight": 0.4}
    loss, m = run(beta=beta, weights=w, ls=ls, norm=norm)
    per = [dpo(PC[i], PR[i], RC[i], RR[i], beta, ls) for i in range(4)]
    odpo = (per[0] + per[3]) / 2
    sdpo = (per[1] + per[2]) / 2
    sft = sum(NLL) / sum(TOK) if norm == "token" else sum(NLL) / 4
    assert float(loss) == pytest.approx(0.7 * odpo + 1.3 * sdpo + 0.4 * sft, rel=1e-9)
    assert m["loss_odpo"] == pytest.approx(odpo) and m["loss_sdpo"] == pytest.approx(sdpo)
    assert m["loss_sft"] == pytest.approx(sft)
    margins = [beta * ((PC[i] - RC[i]) - (PR[i] - RR[i])) for i in range(4)]
    assert m["outcome/reward_margin"] == pytest.approx((margins[0] + margins[3]) / 2)
    assert m["step/accuracy"] == pytest.approx(sum(x > 0 for x in (margins[1], margins[2])) / 2)


def test_batch_with_only_one_kind():
    loss, m = run(kinds=["step"] * 4, beta=0.1, weights={"outcome_weight": 5.0, "step_weight": 1.0, "sft_weight": 0.0})
    per = [dpo(PC[i], PR[i], RC[i], RR[i], 0.1) for i in range(4)]
    assert m["loss_odpo"] == 0.0 and m["outcome/count"] == 0
    assert float(loss) == pytest.approx(sum(per) / 4)


def test_zero_weights_and_gradient_flows():
    pc = torch.tensor(PC, dtype=torch.float64, requires_grad=True)
    loss, _ = mixed_loss(pc, torch.tensor(PR, dtype=torch.float64), torch.tensor(RC, dtype=torch.float64),
                         torch.tensor(RR, dtype=torch.float64), -pc, torch.tensor(TOK), KINDS, 0.1,
                         {"outcome_weight": 0.0, "step_weight": 1.0, "sft_weight": 0.0})
    loss.backward()
    assert pc.grad[0] == 0 and pc.grad[3] == 0  # outcome pairs weighted 0
    assert pc.grad[1] < 0 and pc.grad[2] < 0  # raising chosen logp lowers the loss


def test_unknown_kind_rejected():
    with pytest.raises(ValueError):
        run(kinds=["outcome", "bogus", "step", "step"])


def _tiny_random_model():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=50, hidden_size=64, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
                      tie_word_embeddings=True)
    return Qwen2ForCausalLM(cfg).double()


def test_masked_positions_carry_no_gradient():
    model = _tiny_random_model()
    ids = torch.randint(3, 50, (2, 12))
    attn = torch.ones_like(ids)
    attn[1, 9:] = 0  # right padding
    mask = torch.zeros_like(ids)
    mask[0, 3:6] = 1  # "assistant" span, then an "observation" span 6..8 is masked, then assistant again
    mask[0, 9:12] = 1
    mask[1, 2:5] = 1
    logits = model(input_ids=ids, attention_mask=attn).logits.detach().requires_grad_(True)
    sums = logps_from_logits(logits, ids, mask)
    sums.sum().backward()
    grad_rows = logits.grad.abs().sum(-1)  # [B, T]: position t predicts token t+1
    predicts_target = torch.zeros_like(grad_rows, dtype=torch.bool)
    predicts_target[:, :-1] = mask[:, 1:].bool()
    assert torch.all(grad_rows[~predicts_target] == 0)
    assert torch.all(grad_rows[predicts_target] > 0)
    # perturbing logits at masked positions leaves the log-probs unchanged
    noisy = logits.detach().clone()
    noisy[~predicts_target] += torch.randn_like(noisy[~predicts_target]) * 10
    assert torch.allclose(logps_from_logits(noisy, ids, mask), sums.detach())
    # the model-level helper (projects only target positions) agrees with the full-logit formula
    via_model = sequence_logps(model, ids, attn, mask)
    assert torch.allclose(via_model, sums.detach(), atol=1e-8)
    s, c = target_logps(model, ids, attn, mask)
    assert c.tolist() == [6, 3]  # target counts per row


def trl_dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, token_logps, mask, beta, loss_types):
    """TRL's own DPO loss (``DPOTrainer._compute_loss``, trl pinned) on given log-probs.

    The trainer object and the model are stand-ins that return the given per-token log-probs (the
    sums of each row are the sequence log-probs), so TRL's loss code runs unchanged on our numbers.
    """
    from collections import defaultdict
    from types import SimpleNamespace

    from trl.trainer.dpo_trainer import DPOTrainer

    n = len(policy_chosen)
    per_token = token_logps.clone()
    # Put each row's remainder on its first target token so that the row sums to the wanted value.
    wanted = torch.cat([policy_chosen, policy_rejected])
    first = mask.float().argmax(dim=1)
    per_token[torch.arange(2 * n), first] += wanted - per_token.sum(dim=1)
    outputs = SimpleNamespace(log_probs=per_token, entropy=torch.zeros_like(per_token),
                              mean_logits=torch.zeros_like(per_token), is_top1=torch.zeros_like(per_token, dtype=torch.bool))
    accelerator = SimpleNamespace(device="cpu", gather_for_metrics=lambda x: x.reshape(-1), gather=lambda x: x)
    trainer = SimpleNamespace(
        model=SimpleNamespace(training=True), accelerator=accelerator, aux_loss_enabled=False, ld_alpha=None,
        precompute_ref_logps=True, f_divergence_type="reverse_kl", loss_types=loss_types,
        loss_weights=[1.0] * len(loss_types), beta=beta, label_smoothing=0.0, use_weighting=False,
        _metrics={"train": defaultdict(list)}, _total_train_tokens=0, _tp_size=1,
    )
    completion_mask = torch.cat([torch.zeros(2 * n, 1, dtype=torch.long), mask.long()], dim=1)
    inputs = {"input_ids": torch.zeros_like(completion_mask), "attention_mask": torch.ones_like(completion_mask),
              "completion_mask": completion_mask, "ref_chosen_logps": ref_chosen, "ref_rejected_logps": ref_rejected}
    return DPOTrainer._compute_loss(trainer, lambda **kwargs: outputs, inputs, return_outputs=False)


def test_dpo_and_sft_terms_match_trl():
    gen = torch.Generator().manual_seed(0)
    n, width, beta = 3, 7, 0.3
    mask = (torch.rand(2 * n, width, generator=gen) > 0.3).long()
    mask[:, 0] = 1
    token_logps = -torch.rand(2 * n, width, generator=gen, dtype=torch.float64) * 3 * mask
    sums = token_logps.sum(dim=1)
    pc, pr = sums[:n], sums[n:]
    rc, rr = pc + torch.randn(n, generator=gen, dtype=torch.float64), pr + torch.randn(n, generator=gen, dtype=torch.float64)
    counts = mask[:n].sum(dim=1)

    # DPO sigmoid alone: every pair one kind, SFT weight 0.
    ours, _ = mixed_loss(pc, pr, rc, rr, -pc, counts, ["step"] * n, beta,
                         {"outcome_weight": 0.0, "step_weight": 1.0, "sft_weight": 0.0})
    theirs = trl_dpo_loss(pc, pr, rc, rr, token_logps, mask, beta, ["sigmoid"])
    assert float(ours) == pytest.approx(float(theirs), abs=1e-6)

    # DPO + token-mean SFT on the chosen side = TRL's loss_type ["sigmoid", "sft"].
    ours, _ = mixed_loss(pc, pr, rc, rr, -pc, counts, ["outcome"] * n, beta,
                         {"outcome_weight": 1.0, "step_weight": 0.0, "sft_weight": 1.0}, sft_normalize="token")
    theirs = trl_dpo_loss(pc, pr, rc, rr, token_logps, mask, beta, ["sigmoid", "sft"])
    assert float(ours) == pytest.approx(float(theirs), abs=1e-6)


def test_reference_code_variant_is_one_dpo_term_plus_summed_nll():
    beta = 0.5
    loss, m = mixed_loss(*(torch.tensor(x, dtype=torch.float64) for x in (PC, PR, RC, RR, NLL)), torch.tensor(TOK),
                         KINDS, beta, {"outcome_weight": 9.0, "step_weight": 9.0, "sft_weight": 9.0},
                         sft_normalize="token", variant="reference_code")
    per = [dpo(PC[i], PR[i], RC[i], RR[i], beta) for i in range(4)]
    assert float(loss) == pytest.approx(sum(per) / 4 + sum(NLL) / 4, rel=1e-9)  # weights ignored, NLL summed
    assert m["loss_sft"] == pytest.approx(sum(NLL) / 4)
    with pytest.raises(ValueError, match="variant"):
        mixed_loss(*(torch.tensor(x) for x in (PC, PR, RC, RR, NLL)), torch.tensor(TOK), KINDS, beta, {},
                   variant="authors")
