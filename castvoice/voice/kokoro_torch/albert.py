"""ALBERT as Kokoro's phoneme-level BERT uses it: 128-wide embeddings mapped to 768, and one shared
transformer layer applied 12 times. Module names follow Hugging Face's AlbertModel, so the parameters keep
the names the Kokoro checkpoint and its ONNX export give them."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

VOCAB = 178
EMBEDDING = 128
HIDDEN = 768
HEADS = 12
INTERMEDIATE = 2048
LAYERS = 12
POSITIONS = 512
EPS = 1e-12


class Embeddings(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(VOCAB, EMBEDDING)
        self.position_embeddings = nn.Embedding(POSITIONS, EMBEDDING)
        self.token_type_embeddings = nn.Embedding(2, EMBEDDING)
        self.LayerNorm = nn.LayerNorm(EMBEDDING, eps=EPS)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.word_embeddings(tokens) + self.position_embeddings(positions) + self.token_type_embeddings.weight[0]
        return self.LayerNorm(x)


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.query = nn.Linear(HIDDEN, HIDDEN)
        self.key = nn.Linear(HIDDEN, HIDDEN)
        self.value = nn.Linear(HIDDEN, HIDDEN)
        self.dense = nn.Linear(HIDDEN, HIDDEN)
        self.LayerNorm = nn.LayerNorm(HIDDEN, eps=EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape

        def heads(projection: nn.Linear) -> torch.Tensor:
            return projection(x).view(batch, length, HEADS, HIDDEN // HEADS).transpose(1, 2)

        context = F.scaled_dot_product_attention(heads(self.query), heads(self.key), heads(self.value))
        return self.LayerNorm(x + self.dense(context.transpose(1, 2).reshape(batch, length, HIDDEN)))


class Layer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attention = Attention()
        self.ffn = nn.Linear(HIDDEN, INTERMEDIATE)
        self.ffn_output = nn.Linear(INTERMEDIATE, HIDDEN)
        self.full_layer_layer_norm = nn.LayerNorm(HIDDEN, eps=EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attention(x)
        return self.full_layer_layer_norm(x + self.ffn_output(F.gelu(self.ffn(x), approximate="tanh")))


class LayerGroup(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.albert_layers = nn.ModuleList([Layer()])


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding_hidden_mapping_in = nn.Linear(EMBEDDING, HIDDEN)
        self.albert_layer_groups = nn.ModuleList([LayerGroup()])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embedding_hidden_mapping_in(x)
        layer = self.albert_layer_groups[0].albert_layers[0]
        for _ in range(LAYERS):
            x = layer(x)
        return x


class Albert(nn.Module):
    """Token ids [batch, length] (all of one length, no padding) to hidden states [batch, length, 768]."""

    def __init__(self) -> None:
        super().__init__()
        self.embeddings = Embeddings()
        self.encoder = Encoder()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.embeddings(tokens))
