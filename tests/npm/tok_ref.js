// tok_ref.js FAMILY TEXTS.json — encodes each text of a JSON array with the
// @lenml/tokenizers port of transformers.js (add_special_tokens=false) and
// prints a JSON array of id arrays. A second, independent implementation for
// test_tok_js.c; the reference proper stays HF tokenizers (the goldens).
const path = require("path");
const fs = require("fs");
const root = path.join(__dirname, "node_modules", "@lenml");
const fam = process.argv[2];
const { TokenizerLoader } = require(path.join(root, "tokenizers"));
const dir = path.join(root, "tokenizer-" + fam, "models");
const tok = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
  tokenizerConfig: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")),
});
const texts = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
process.stdout.write(JSON.stringify(texts.map((t) => tok.encode(t, { add_special_tokens: false }))));
