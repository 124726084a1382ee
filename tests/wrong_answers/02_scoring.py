'''Plausible wrong answers to the chapter 2 exercises (solutions/02_scoring/exercises.ipynb).

Each entry replaces the source of the solution cell of part P; the suite checks that the part's
test cell then fails. Keys of WRONG_ANSWERS are the parts' grade ids.
'''

WRONG_ANSWERS = {
    "scaled_dot_product_scores": {
        "missing 1/sqrt(d)": '''
def scaled_dot_product_scores(queries, keys):
    return queries @ np.swapaxes(keys, -2, -1)
''',
        "divides by d instead of sqrt(d)": '''
def scaled_dot_product_scores(queries, keys):
    return queries @ np.swapaxes(keys, -2, -1) / queries.shape[-1]
''',
        "keys.T reverses every axis": '''
def scaled_dot_product_scores(queries, keys):
    return queries @ keys.T / math.sqrt(queries.shape[-1])
''',
    },
    "causal_mask": {
        "diagonal excluded": '''
def causal_mask(n):
    return np.tril(np.ones((n, n), dtype=bool), k=-1)
''',
        "off by one, k=1": '''
def causal_mask(n):
    return np.tril(np.ones((n, n), dtype=bool), k=1)
''',
        "upper triangle (sees the future)": '''
def causal_mask(n):
    return np.triu(np.ones((n, n), dtype=bool))
''',
        "float mask, not boolean": '''
def causal_mask(n):
    return np.tril(np.ones((n, n)))
''',
    },
    "masked_softmax": {
        "fill with -inf: NaN for an empty row": '''
def masked_softmax(scores, mask):
    scores = np.where(mask, scores, -np.inf)
    exps = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return exps / exps.sum(axis=-1, keepdims=True)
''',
        "fill with -1e9: uniform weights for an empty row": '''
def masked_softmax(scores, mask):
    scores = np.where(mask, scores, -1e9)
    exps = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return exps / exps.sum(axis=-1, keepdims=True)
''',
        "mask after the softmax": '''
def masked_softmax(scores, mask):
    exps = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return exps / exps.sum(axis=-1, keepdims=True) * mask
''',
        "no max subtraction: overflows": '''
def masked_softmax(scores, mask):
    exps = np.where(mask, np.exp(scores), 0.0)
    totals = exps.sum(axis=-1, keepdims=True)
    return exps / np.where(totals == 0, 1.0, totals)
''',
        "softmax over the wrong axis": '''
def masked_softmax(scores, mask):
    scores = np.where(mask, scores, -np.inf)
    row_max = scores.max(axis=0, keepdims=True)
    row_max = np.where(np.isfinite(row_max), row_max, 0.0)
    exps = np.exp(scores - row_max)
    totals = exps.sum(axis=0, keepdims=True)
    return exps / np.where(totals == 0, 1.0, totals)
''',
    },
    "fixed_attention": {
        "the buggy original": '''
def fixed_attention(queries, keys, values, mask):
    scores = torch.matmul(queries, keys.transpose(1, 2)) / math.sqrt(queries.shape[-1])
    weights = torch.softmax(scores, dim=1)
    weights = weights * mask
    return weights @ values
''',
        "softmax over dim=1": '''
def fixed_attention(queries, keys, values, mask):
    scores = queries @ keys.transpose(-2, -1) / math.sqrt(queries.shape[-1])
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)
    return torch.nan_to_num(weights) @ values
''',
        "mask after the softmax": '''
def fixed_attention(queries, keys, values, mask):
    scores = queries @ keys.transpose(-2, -1) / math.sqrt(queries.shape[-1])
    return (torch.softmax(scores, dim=-1) * mask) @ values
''',
        "transpose(1, 2) kept": '''
def fixed_attention(queries, keys, values, mask):
    scores = queries @ keys.transpose(1, 2) / math.sqrt(queries.shape[-1])
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return weights @ values
''',
        "fill with -inf: NaN for an empty row": '''
def fixed_attention(queries, keys, values, mask):
    scores = queries @ keys.transpose(-2, -1) / math.sqrt(queries.shape[-1])
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return weights @ values
''',
        "fill with -1e9: uniform weights for an empty row": '''
def fixed_attention(queries, keys, values, mask):
    scores = queries @ keys.transpose(-2, -1) / math.sqrt(queries.shape[-1])
    weights = torch.softmax(scores.masked_fill(~mask, -1e9), dim=-1)
    return weights @ values
''',
    },
    "AdditiveAttention": {
        "tanh left out": '''
class AdditiveAttention(nn.Module):
    def __init__(self, query_size, key_size, hidden_size):
        super().__init__()
        self.W_q = nn.Linear(query_size, hidden_size, bias=False)
        self.W_k = nn.Linear(key_size, hidden_size, bias=False)
        self.v = nn.Linear(hidden_size, 1, bias=False)

    def forward(self, queries, keys, values, mask=None):
        scores = self.v(self.W_q(queries).unsqueeze(-2) + self.W_k(keys).unsqueeze(-3)).squeeze(-1)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        return weights @ values, weights
''',
        "softmax over the queries": '''
class AdditiveAttention(nn.Module):
    def __init__(self, query_size, key_size, hidden_size):
        super().__init__()
        self.W_q = nn.Linear(query_size, hidden_size, bias=False)
        self.W_k = nn.Linear(key_size, hidden_size, bias=False)
        self.v = nn.Linear(hidden_size, 1, bias=False)

    def forward(self, queries, keys, values, mask=None):
        hidden = torch.tanh(self.W_q(queries).unsqueeze(-2) + self.W_k(keys).unsqueeze(-3))
        scores = self.v(hidden).squeeze(-1)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-2)
        return weights @ values, weights
''',
        "queries and keys added without pairing them": '''
class AdditiveAttention(nn.Module):
    def __init__(self, query_size, key_size, hidden_size):
        super().__init__()
        self.W_q = nn.Linear(query_size, hidden_size, bias=False)
        self.W_k = nn.Linear(key_size, hidden_size, bias=False)
        self.v = nn.Linear(hidden_size, 1, bias=False)

    def forward(self, queries, keys, values, mask=None):
        scores = self.v(torch.tanh(self.W_q(queries) + self.W_k(keys))).squeeze(-1)
        weights = torch.softmax(scores, dim=-1)
        return weights @ values, weights
''',
        "mask ignored": '''
class AdditiveAttention(nn.Module):
    def __init__(self, query_size, key_size, hidden_size):
        super().__init__()
        self.W_q = nn.Linear(query_size, hidden_size, bias=False)
        self.W_k = nn.Linear(key_size, hidden_size, bias=False)
        self.v = nn.Linear(hidden_size, 1, bias=False)

    def forward(self, queries, keys, values, mask=None):
        hidden = torch.tanh(self.W_q(queries).unsqueeze(-2) + self.W_k(keys).unsqueeze(-3))
        weights = torch.softmax(self.v(hidden).squeeze(-1), dim=-1)
        return weights @ values, weights
''',
    },
    "cosine_scores": {
        "multiplies by the temperature": '''
def cosine_scores(queries, keys, temperature):
    unit_queries = queries / np.linalg.norm(queries, axis=-1, keepdims=True)
    unit_keys = keys / np.linalg.norm(keys, axis=-1, keepdims=True)
    return unit_queries @ np.swapaxes(unit_keys, -2, -1) * temperature
''',
        "keys not normalised": '''
def cosine_scores(queries, keys, temperature):
    unit_queries = queries / np.linalg.norm(queries, axis=-1, keepdims=True)
    return unit_queries @ np.swapaxes(keys, -2, -1) / temperature
''',
        "normalised over the wrong axis": '''
def cosine_scores(queries, keys, temperature):
    unit_queries = queries / np.linalg.norm(queries, axis=-2, keepdims=True)
    unit_keys = keys / np.linalg.norm(keys, axis=-2, keepdims=True)
    return unit_queries @ np.swapaxes(unit_keys, -2, -1) / temperature
''',
    },
}
