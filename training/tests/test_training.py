"""Unit tests of the training package (run by tests/A1Fleet.Engine.Tests/Parity/TrainingPythonTests.cs):
    cd training && /usr/bin/python3 -m unittest discover -s tests -t ."""
import json
import os
import tempfile
import unittest

import numpy as np
import onnx
import torch

from a1fleet_train.data import Dataset, Tokenizer, build_vocabulary, normalize, denormalize, words, write_synthetic
from a1fleet_train.train import train


class DataTests(unittest.TestCase):
    def test_words_SplitsOnNonAlphanumericsAndLowerCases(self):
        self.assertEqual(words("Put the RED-block, now!  x2"), ["put", "the", "red", "block", "now", "x2"])

    def test_tokenizer_UnknownWordsAndPadding(self):
        vocab = build_vocabulary(["touch the red block"])
        self.assertEqual(vocab[:2], ["<pad>", "<unk>"])
        ids, count = Tokenizer(vocab, 6).encode("touch the purple block")
        self.assertEqual(count, 4)
        self.assertEqual(ids[2], 1)
        self.assertEqual(list(ids[4:]), [0, 0])
        with self.assertRaises(ValueError):
            Tokenizer(vocab, 2).encode("touch the red block")

    def test_normalize_RoundTripsInsideTheBounds(self):
        q01, q99 = np.array([-1.0, 0.0], np.float32), np.array([1.0, 0.08], np.float32)
        x = np.array([[0.5, 0.02]], np.float32)
        np.testing.assert_allclose(denormalize(normalize(x, q01, q99), q01, q99), x, atol=1e-6)
        self.assertEqual(normalize(np.array([[5.0, -1.0]], np.float32), q01, q99).tolist(), [[1.0, -1.0]])

    def test_chunks_RepeatTheEpisodesLastAction(self):
        with tempfile.TemporaryDirectory() as d:
            write_synthetic(d, episodes=2, frames_per_episode=5, size=16)
            data = Dataset(d, chunk=4)
            self.assertEqual(data.chunk_index[3].tolist(), [3, 4, 4, 4])
            self.assertEqual(data.chunk_index[5].tolist(), [5, 6, 7, 8])

    def test_dataset_WrongShapeNamesTheFile(self):
        with tempfile.TemporaryDirectory() as d:
            write_synthetic(d, episodes=2, frames_per_episode=5, size=16)
            np.save(os.path.join(d, "state.npy"), np.zeros((3, 8), np.float32))
            with self.assertRaisesRegex(ValueError, "state.npy"):
                Dataset(d, chunk=4)


class TrainingTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.data = os.path.join(cls.tmp.name, "data")
        write_synthetic(cls.data, episodes=6, frames_per_episode=8, size=16)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def run_smoke(self, name, head, seed, **kw):
        out = os.path.join(self.tmp.name, name)
        summary = train(self.data, "smoke", head, seed, out, steps=kw.pop("steps", 4), samples=4, **kw)
        return summary, torch.load(os.path.join(out, "checkpoint.pt"))["state_dict"], out

    def test_train_SameSeed_IdenticalWeights(self):
        for head in ("mlp", "fm"):
            a = self.run_smoke(f"{head}-a", head, 3, export=False)[1]
            b = self.run_smoke(f"{head}-b", head, 3, export=False)[1]
            c = self.run_smoke(f"{head}-c", head, 4, export=False)[1]
            self.assertTrue(all(torch.equal(a[k], b[k]) for k in a), head)
            self.assertFalse(all(torch.equal(a[k], c[k]) for k in a), head)

    def test_train_RandomExitLoss_Runs(self):
        summary = self.run_smoke("random", "fm", 1, exit_loss="random", export=False)[0]
        self.assertEqual(summary["exit_loss"], "random")
        self.assertTrue(np.isfinite(summary["final_train_loss"]))

    def test_train_MoreSteps_LowerLoss(self):
        first = self.run_smoke("short", "mlp", 2, steps=1, export=False)[0]["validation_loss_per_exit"]
        later = self.run_smoke("long", "mlp", 2, steps=40, export=False)[0]["validation_loss_per_exit"]
        self.assertLess(sum(later.values()), sum(first.values()))

    def test_exportCli_ReexportsWithTrainingEpisodeSamples(self):
        from a1fleet_train import export
        from a1fleet_train.data import Dataset, split_frames
        _, _, out = self.run_smoke("reexport", "mlp", 1, export=False)
        package = os.path.join(out, "again")
        export.main(["--checkpoint", os.path.join(out, "checkpoint.pt"), "--data", self.data, "--out", package,
                     "--model-id", "again-mlp", "--model-version", "v1", "--samples", "5"])
        with open(os.path.join(package, "samples.json")) as f:
            samples = json.load(f)
        train_frames, _ = split_frames(Dataset(self.data, chunk=4))
        train_episodes = set(Dataset(self.data, chunk=4).episode[train_frames].tolist())
        self.assertEqual(len(samples), 5)
        self.assertTrue(all(s["episode"] in train_episodes for s in samples))

    def test_export_GraphsHaveTheEngineNamesAndShapes(self):
        for head in ("mlp", "fm"):
            _, _, out = self.run_smoke(f"export-{head}", head, 1)
            package = os.path.join(out, "package")
            with open(os.path.join(package, "model.json")) as f:
                m = json.load(f)
            n, d = m["languageModel"]["sequenceLength"], m["languageModel"]["hidden"]
            layer = onnx.load(os.path.join(package, m["files"]["languageModelLayers"][0]))
            shapes = {v.name: [x.dim_param or x.dim_value for x in v.type.tensor_type.shape.dim]
                      for v in list(layer.graph.input) + list(layer.graph.output)}
            self.assertEqual(shapes["hidden"], ["batch", n, d])
            self.assertEqual(shapes["key"], ["batch", m["languageModel"]["kvHeads"], n, m["languageModel"]["headDim"]])
            self.assertEqual(m["exits"]["layers"], [1, 3])
            if head == "mlp":
                self.assertEqual(m["mlpHead"]["reads"], "block-input")
            else:
                self.assertEqual(len(m["files"]["expertLayers"]), m["languageModel"]["layers"])

    def test_batches_EarlyShare_ThatShareFromTheEpisodesFirstFrames(self):
        from a1fleet_train.config import preset
        from a1fleet_train.train import Batches, model_config_for
        from a1fleet_train.data import bounds, split_frames
        data = Dataset(self.data, chunk=4)
        c = model_config_for(data, preset("smoke", "mlp")[0])
        frames, _ = split_frames(data)
        batches = Batches(data, c, frames, bounds(data.state), bounds(data.action), 0)
        drawn = []
        batches.get = lambda rows: drawn.append(rows)
        batches.sample(16, early_share=0.5, early_frames=2)
        batches.sample(16)
        early, plain = drawn
        self.assertEqual(len(early), 16)
        self.assertTrue(all(data.frame[r] < 2 for r in early[8:]))
        self.assertTrue(set(early.tolist()) <= set(frames.tolist()))
        self.assertEqual(len(plain), 16)

    def smoke_model_and_batch(self, head, target=None, b=4):
        """A seeded smoke-size model of `head` and a batch of b random samples (actions `target`, default zeros)."""
        from a1fleet_train.config import preset
        from a1fleet_train.model import Policy
        from a1fleet_train.train import model_config_for
        c = model_config_for(Dataset(self.data, chunk=4), preset("smoke", head)[0])
        torch.manual_seed(0)
        model = Policy(c)
        batch = (torch.rand(b, len(c.cameras), 3, c.image_height, c.image_width), torch.ones(b, c.max_tokens, dtype=torch.int64),
                 torch.full((b,), 3), torch.zeros(b, c.state_dim), torch.zeros(b, c.chunk, c.action_dim) if target is None else target(c))
        return model, batch

    def test_exitLosses_EarlyWeight_WeightsTheSamplesLoss(self):
        from a1fleet_train.train import exit_losses
        model, batch = self.smoke_model_and_batch("mlp")
        batch[4][0] += 1.0  # only the first sample is far from the model's output
        gen = torch.Generator().manual_seed(0)
        plain = float(exit_losses(model, batch, [1], gen)[0])
        first = float(exit_losses(model, batch, [1], gen, weights=torch.tensor([10.0, 1.0, 1.0, 1.0]))[0])
        last = float(exit_losses(model, batch, [1], gen, weights=torch.tensor([1.0, 1.0, 1.0, 10.0]))[0])
        self.assertGreater(first, plain)
        self.assertLess(last, plain)

    def test_init_FromExportedPackage_SameWeightsThenTrainsOn(self):
        from a1fleet_train.config import preset
        from a1fleet_train.package_weights import load_policy
        for head in ("mlp", "fm"):
            _, weights, out = self.run_smoke(f"init-{head}", head, 5)
            package = os.path.join(out, "package")
            model, state_bounds, _ = load_policy(package, preset("smoke", head)[0])
            loaded = model.state_dict()
            self.assertEqual(set(loaded), set(weights), head)
            different = [k for k in weights if not torch.equal(loaded[k], weights[k])]
            self.assertEqual(different, [], head)
            with open(os.path.join(package, "model.json")) as f:
                self.assertEqual(state_bounds[0].tolist(), np.float32(json.load(f)["state"]["q01"]).tolist())
            summary, tuned, _ = self.run_smoke(f"init-{head}-tuned", head, 5, init=package, export=False, steps=2)
            self.assertEqual(summary["initialised_from"], package)
            self.assertFalse(all(torch.equal(tuned[k], weights[k]) for k in weights), head)

    def test_initBackbone_FmFromMlpPackage_PrefixAndBlocksCopiedHeadKept(self):
        from a1fleet_train.config import preset
        from a1fleet_train.package_weights import load_backbone, load_policy
        _, mlp_weights, mlp_out = self.run_smoke("backbone-mlp", "mlp", 6)
        _, fm_weights, fm_out = self.run_smoke("backbone-fm", "fm", 7)
        model, state_bounds, _ = load_policy(os.path.join(fm_out, "package"), preset("smoke", "fm")[0])
        load_backbone(model, os.path.join(mlp_out, "package"), preset("smoke", "fm")[0], state_bounds)
        got = model.state_dict()
        backbone = [k for k in got if k.startswith(("prefix.", "blocks."))]
        self.assertTrue(backbone)
        self.assertEqual([k for k in backbone if not torch.equal(got[k], mlp_weights[k])], [])
        head = [k for k in got if not k.startswith(("prefix.", "blocks."))]
        self.assertTrue(head)
        self.assertEqual([k for k in head if not torch.equal(got[k], fm_weights[k])], [])
        # The prefix reads the normalised state: other bounds are refused, naming the package.
        shifted = (state_bounds[0] - 1, state_bounds[1])
        with self.assertRaisesRegex(ValueError, "backbone-mlp.*q01"):
            load_backbone(model, os.path.join(mlp_out, "package"), preset("smoke", "fm")[0], shifted)
        summary = self.run_smoke("backbone-tuned", "fm", 7, init=os.path.join(fm_out, "package"),
                                 init_backbone=os.path.join(mlp_out, "package"), export=False, steps=1)[0]
        self.assertEqual(summary["backbone_from"], os.path.join(mlp_out, "package"))

    def test_combineExitLosses_FirstExitWeighted_WeightedMean(self):
        from a1fleet_train.train import combine_exit_losses
        losses = [torch.tensor(4.0), torch.tensor(1.0), torch.tensor(1.0), torch.tensor(2.0)]
        self.assertAlmostEqual(float(combine_exit_losses(losses, [1, 3, 5, 7], [1, 3, 5, 7])), 2.0)
        self.assertAlmostEqual(float(combine_exit_losses(losses, [1, 3, 5, 7], [1, 3, 5, 7], 3.0)), (12 + 1 + 1 + 2) / 6, places=6)
        # One exit drawn (--exit-loss random): a weight changes nothing.
        self.assertAlmostEqual(float(combine_exit_losses([torch.tensor(4.0)], [1], [1, 3, 5, 7], 3.0)), 4.0)
        with self.assertRaisesRegex(ValueError, "first-exit-weight 0"):
            self.run_smoke("first-exit-weight-0", "fm", 8, first_exit_weight=0.0, export=False, steps=1)
        summary = self.run_smoke("first-exit-weight", "fm", 8, first_exit_weight=3.0, export=False, steps=2)[0]
        self.assertEqual(summary["first_exit_weight"], 3.0)
        self.assertTrue(np.isfinite(summary["final_train_loss"]))


    def test_exitLosses_WarmShare_FlowStartsAtTheActionAndTargetsItsOffset(self):
        from a1fleet_train.train import exit_losses
        model, batch = self.smoke_model_and_batch("fm", lambda c: torch.rand(4, c.chunk, c.action_dim) * 2 - 1)
        b, target = 4, batch[4]
        # Every sample warm with a vanishing sigma: x_t is the action itself at every t and the target velocity is 0.
        torch.manual_seed(7)
        warm = float(exit_losses(model, batch, [1], torch.Generator().manual_seed(0), warm_share=1.0, warm_sigma=1e-9)[0])
        torch.manual_seed(7)
        t = torch.distributions.Beta(torch.tensor(1.5), torch.tensor(1.0)).sample((b,)) * 0.999 + 0.001
        with torch.no_grad():
            bias = model.attention_bias(batch[2])
            _, keys, values = model.backbone(batch[0], batch[1], batch[3], bias, 1)
            expected = float(torch.mean(model.velocity_at(target, t, batch[3], keys, values, bias, 1) ** 2))
        self.assertAlmostEqual(warm, expected, places=5)
        torch.manual_seed(7)
        cold = float(exit_losses(model, batch, [1], torch.Generator().manual_seed(0))[0])
        self.assertNotAlmostEqual(cold, expected, places=3)
        with self.assertRaisesRegex(ValueError, "--warm-share needs --head fm"):
            self.run_smoke("warm-mlp", "mlp", 8, warm_share=0.5, export=False, steps=1)
        with self.assertRaisesRegex(ValueError, "--warm-share 1.5"):
            self.run_smoke("warm-over", "fm", 8, warm_share=1.5, export=False, steps=1)

    def test_weightAverage_DecayWarmsUpThenAveragesAndRestoresTheTrainedWeights(self):
        from a1fleet_train.train import WeightAverage
        model = torch.nn.Linear(2, 1, bias=False)
        with torch.no_grad():
            model.weight.fill_(1.0)
        average = WeightAverage(model, 0.9)
        with torch.no_grad():
            model.weight.fill_(3.0)
        average.update(model)
        # First update: the warm-up decay (1 + 1) / (10 + 1), not 0.9.
        d = 2.0 / 11.0
        self.assertTrue(torch.allclose(average.shadow["weight"], torch.full((1, 2), d * 1.0 + (1 - d) * 3.0)))
        for _ in range(200):
            average.update(model)
        self.assertAlmostEqual(average.current_decay(), 0.9)
        with average.applied(model):
            self.assertTrue(torch.allclose(model.weight, average.shadow["weight"]))
        self.assertTrue(torch.equal(model.weight, torch.full((1, 2), 3.0)))
        with self.assertRaisesRegex(ValueError, "--ema 1.5"):
            WeightAverage(model, 1.5)

    def test_train_Ema_SavesTheAverageNotTheLastStep(self):
        plain, plain_weights, _ = self.run_smoke("ema-off", "fm", 9, steps=3, export=False)
        averaged, averaged_weights, out = self.run_smoke("ema-on", "fm", 9, steps=3, ema=0.9)
        self.assertEqual(plain["ema"], 0.0)
        self.assertEqual(averaged["ema"], 0.9)
        self.assertTrue(any(not torch.equal(plain_weights[k], averaged_weights[k]) for k in plain_weights))
        with open(os.path.join(out, "package", "model.json")) as f:
            self.assertEqual(json.load(f)["provenance"]["ema"], "0.9")


class TargetTests(unittest.TestCase):
    def test_blockCentres_CentroidOfTheColourCarriedForwardWhenHidden(self):
        from a1fleet_train.targets import COLOURS, block_centres
        images = np.full((3, 1, 16, 16, 3), 90, dtype=np.uint8)
        images[0, 0, 2:6, 8:12] = COLOURS["blue"]      # x 8..11, y 2..5 -> centre (10/16, 4/16)
        images[1, 0, 2:6, 8:12] = COLOURS["blue"]
        images[1, 0, 2:6, 8:12][:, :] = (30, 30, 30)   # the gripper covers it in frame 1
        images[2, 0, 2:6, 8:12] = COLOURS["blue"]
        episode = np.array([0, 0, 1])
        centres = block_centres(images, episode)
        blue, red = list(COLOURS).index("blue"), list(COLOURS).index("red")
        np.testing.assert_allclose(centres[0, blue], [10 / 16, 4 / 16], atol=1e-6)
        np.testing.assert_allclose(centres[1, blue], centres[0, blue])
        self.assertTrue(np.isnan(centres[0, red]).all())
        np.testing.assert_allclose(centres[2, blue], centres[0, blue])

    def test_namedColour_InstructionWithoutAColour_NamesTheColours(self):
        from a1fleet_train.targets import named_colour
        self.assertEqual(named_colour("push the yellow block to the left"), "yellow")
        with self.assertRaisesRegex(ValueError, "purple"):
            named_colour("touch the block")


class AuxTargetTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from a1fleet_train.targets import COLOURS
        cls.tmp = tempfile.TemporaryDirectory()
        cls.data = os.path.join(cls.tmp.name, "data")
        write_synthetic(cls.data, episodes=6, frames_per_episode=8, size=16)
        # Repaint the synthetic squares in the simulator's block colours (what the targets are read from).
        path = os.path.join(cls.data, "images.npy")
        images = np.load(path)
        for name, old in {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (50, 70, 220)}.items():
            images[np.all(images == np.array(old, dtype=np.uint8), axis=-1)] = COLOURS[name]
        np.save(path, images)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_train_AuxTarget_LogsItsLossesAndExportsTheSameGraphs(self):
        for head in ("mlp", "fm"):
            plain_out, aux_out = os.path.join(self.tmp.name, f"plain-{head}"), os.path.join(self.tmp.name, f"aux-{head}")
            plain = train(self.data, "smoke", head, 2, plain_out, steps=3, samples=4)
            aux = train(self.data, "smoke", head, 2, aux_out, steps=3, samples=4, aux_target=0.5)
            self.assertEqual(plain["aux_log"], [], head)
            self.assertEqual(set(aux["aux_log"][0]), {"step", "patch_ce", "patch_ce_swapped", "xy_l1"}, head)
            self.assertTrue(all(np.isfinite(v) for v in aux["aux_log"][0].values()), head)
            a = torch.load(os.path.join(plain_out, "checkpoint.pt"))["state_dict"]
            b = torch.load(os.path.join(aux_out, "checkpoint.pt"))["state_dict"]
            self.assertEqual(set(a), set(b), head)  # the training-only heads are not part of the model
            self.assertFalse(all(torch.equal(a[k], b[k]) for k in a), head)
            self.assertEqual(sorted(os.listdir(os.path.join(plain_out, "package"))), sorted(os.listdir(os.path.join(aux_out, "package"))), head)

    def test_train_AuxChainAndAttention_LogsTheirLossesAndExportsEveryNSteps(self):
        out = os.path.join(self.tmp.name, "chain")
        summary = train(self.data, "smoke", "mlp", 2, out, steps=3, samples=4, aux_target=0.5, aux_chain=True, aux_attention=True,
                        export_every=2)
        first = summary["aux_log"][0]
        self.assertEqual(set(first), {"step", "patch_ce", "patch_ce_swapped", "attn_patch_ce", "attn_query_ce", "xy_instruction_l1", "xy_l1"})
        self.assertTrue(all(np.isfinite(v) for v in first.values()))
        # An intermediate package at step 2 (not at the last step: that is the run's own package), the same graphs.
        self.assertEqual(sorted(d for d in os.listdir(out) if d.startswith("package")), ["package", "package-step-2"])
        graphs = lambda d: sorted(f for f in os.listdir(os.path.join(out, d)) if f.endswith(".onnx"))
        self.assertEqual(graphs("package"), graphs("package-step-2"))
        with open(os.path.join(out, "package-step-2", "model.json")) as f:
            self.assertEqual(json.load(f)["modelVersion"], "seed-2-steps-2")

    def test_train_PositionScale_PatchPositionEmbeddingScaledBeforeTraining(self):
        outs = {}
        for scale in (1.0, 10.0):
            outs[scale] = os.path.join(self.tmp.name, f"scale-{scale}")
            train(self.data, "smoke", "mlp", 3, outs[scale], steps=1, samples=0, export=False, position_scale=scale)
        a, b = (torch.load(os.path.join(outs[s], "checkpoint.pt"))["state_dict"]["prefix.image_position"] for s in (1.0, 10.0))
        # One optimiser step after the scaling: b is 10 a up to the step.
        self.assertTrue(torch.allclose(b, 10 * a, atol=0.02), float((b - 10 * a).abs().max()))
        self.assertFalse(torch.allclose(b, a, atol=0.02))

    def test_auxLosses_NoFirstFrameInTheBatch_NoCentreLoss(self):
        from a1fleet_train.config import preset
        from a1fleet_train.model import Policy
        from a1fleet_train.train import TargetProbe, aux_losses, model_config_for
        data = Dataset(self.data, chunk=4)
        c = model_config_for(data, preset("smoke", "mlp")[0])
        model, probe = Policy(c), TargetProbe(c)
        b = 3
        batch = (torch.rand(b, len(c.cameras), 3, c.image_height, c.image_width), torch.ones(b, c.max_tokens, dtype=torch.int64),
                 torch.full((b,), 3), torch.zeros(b, c.state_dim), torch.zeros(b, c.chunk, c.action_dim))
        streams, _, _ = model.backbone(batch[0], batch[1], batch[3], model.attention_bias(batch[2]), 1)
        xy = torch.full((b, 2), 0.5)
        _, some = aux_losses(model, probe, streams, batch, xy, None, torch.tensor([True, False, False]))
        _, none = aux_losses(model, probe, streams, batch, xy, None, torch.zeros(b, dtype=torch.bool))
        self.assertEqual(set(some), {"patch_ce", "xy_l1"})
        self.assertEqual(set(none), {"patch_ce"})

    def test_firstChunk_ExpertAndPackage_R2PerJointAndColourSwap(self):
        import contextlib
        import io
        from a1fleet_train import first_chunk
        out = os.path.join(self.tmp.name, "first-chunk")
        train(self.data, "smoke", "mlp", 3, out, steps=2, samples=4)
        with contextlib.redirect_stdout(io.StringIO()):
            result = first_chunk.main(["--data", self.data, "--frames", "0", "--preset", "smoke", "--", os.path.join(out, "package")])
        # The synthetic actions move joints 0 and 1 towards the named square: the expert's fit explains most of it.
        self.assertGreater(result["expert/frame0/r2_per_joint"][0], 0.5)
        self.assertEqual(len(result["package/frame0/r2_per_joint"]), 8)
        self.assertGreaterEqual(result["package/frame0/change_when_colour_swapped_heldout"], 0.0)

    def test_probe_RunsOnTheFirstFramesAndScoresAgainstChance(self):
        import contextlib
        import io
        from a1fleet_train import probe
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            probe.main(["--data", self.data, "--steps", "2", "--patch", "8", "--layers", "1", "--patch-ce", "--any-block"])
        text = out.getvalue()
        result = json.loads(text[text.index("{\n"):])
        self.assertEqual(result["baseline_random_block"].keys(), {"mean_distance", "nearest_is_named"})
        self.assertIn("scratch_patch8_layers1", result)


if __name__ == "__main__":
    unittest.main()
