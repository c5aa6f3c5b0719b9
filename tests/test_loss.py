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
