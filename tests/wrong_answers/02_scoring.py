'''Plausible wrong answers to the chapter 2 exercises (solutions/02_scoring/exercises.ipynb).

Each entry replaces the source of the solution cell of part P; the suite checks that the part's
test cell then fails. Keys of WRONG_ANSWERS are the parts' grade ids.
'''

WRONG_ANSWERS = {
    "scaled_dot_product_scores": {
        "torch shortcut": '''
def scaled_dot_product_scores(queries, keys):
    q, k = torch.from_numpy(queries), torch.from_numpy(keys)
    return (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).numpy()
''',
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
        "torch shortcut": '''
def causal_mask(n):
    return torch.ones(n, n, dtype=torch.bool).tril().numpy()
''',
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
    "causal_mask_bottom_right": {
        "top-left alignment (is_causal)": '''
def causal_mask_bottom_right(n_queries, n_keys):
    return np.tril(np.ones((n_queries, n_keys), dtype=bool))
''',
        "offset with the wrong sign": '''
def causal_mask_bottom_right(n_queries, n_keys):
    return np.tril(np.ones((n_queries, n_keys), dtype=bool), k=n_queries - n_keys)
''',
        "off by one: the query's own key excluded": '''
def causal_mask_bottom_right(n_queries, n_keys):
    return np.tril(np.ones((n_queries, n_keys), dtype=bool), k=n_keys - n_queries - 1)
''',
        "aligned at the bottom but sees the future": '''
def causal_mask_bottom_right(n_queries, n_keys):
    return np.triu(np.ones((n_queries, n_keys), dtype=bool), k=n_keys - n_queries)
''',
        "integer mask, not boolean": '''
def causal_mask_bottom_right(n_queries, n_keys):
    return np.tril(np.ones((n_queries, n_keys), dtype=int), k=n_keys - n_queries)
''',
        "every query sees every key": '''
def causal_mask_bottom_right(n_queries, n_keys):
    return np.ones((n_queries, n_keys), dtype=bool)
''',
        "torch shortcut": '''
def causal_mask_bottom_right(n_queries, n_keys):
    return torch.ones(n_queries, n_keys, dtype=torch.bool).tril(diagonal=n_keys - n_queries).numpy()
''',
    },
    "fixed_attention": {
        "calls F.scaled_dot_product_attention": '''
def fixed_attention(queries, keys, values, mask):
    return F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask)
''',
        "calls attnbook": '''
def fixed_attention(queries, keys, values, mask):
    return attnbook.scaled_dot_product_attention(queries, keys, values, mask)
''',
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
        "attnbook's scorer": '''
class AdditiveAttention(nn.Module):
    def __init__(self, query_size, key_size, hidden_size):
        super().__init__()
        self.W_q = nn.Linear(query_size, hidden_size, bias=False)
        self.W_k = nn.Linear(key_size, hidden_size, bias=False)
        self.v = nn.Linear(hidden_size, 1, bias=False)

    def forward(self, queries, keys, values, mask=None):
        scorer = attnbook.AdditiveScorer(self.W_q.in_features, self.W_k.in_features, self.v.in_features)
        scorer.load_state_dict(self.state_dict())
        weights = attnbook.softmax(scorer(queries, keys), axis=-1, mask=mask)
        return weights @ values, weights
''',
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
        "torch shortcut": '''
def cosine_scores(queries, keys, temperature):
    q, k = torch.from_numpy(queries), torch.from_numpy(keys)
    cosines = torch.nn.functional.cosine_similarity(q[..., :, None, :], k[..., None, :, :], dim=-1)
    return cosines.numpy() / temperature
''',
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
