-- Models and prices (USD per million tokens). One default per provider; the default is inserted first.

INSERT INTO model_config (model_id, name, description, provider, is_active, is_default, thinking_enabled,
                          input_pricing_per_million_tokens, output_pricing_per_million_tokens, metadata)
VALUES
    ('gemini-2.0-flash', 'Gemini 2.0 Flash', 'Fast, low-cost Gemini model for everyday tasks.',
     'google', true, true, true, 0.075, 0.30, '{"contextWindow": 1048576, "maxOutputTokens": 8192}'),
    ('gemini-2.5-flash', 'Gemini 2.5 Flash', 'Fast Gemini model with thinking.',
     'google', true, false, true, 0.075, 0.30, '{"contextWindow": 1048576, "maxOutputTokens": 8192}'),
    ('gemini-2.5-pro', 'Gemini 2.5 Pro', 'Most capable Gemini model for complex reasoning and code.',
     'google', true, false, true, 1.25, 5.00, '{"contextWindow": 2097152, "maxOutputTokens": 8192}'),
    ('gemma-3', 'Gemma 3', 'Open-weights model; inactive by default.',
     'google', false, false, false, 0.05, 0.20, '{"contextWindow": 8192, "maxOutputTokens": 2048}'),
    ('gpt-4o', 'GPT-4o', 'OpenAI flagship multimodal model.',
     'openai', true, true, true, 2.50, 10.00, '{"contextWindow": 128000, "maxOutputTokens": 4096}'),
    ('gpt-4o-mini', 'GPT-4o mini', 'Small, fast, low-cost OpenAI model.',
     'openai', true, false, true, 0.15, 0.60, '{"contextWindow": 128000, "maxOutputTokens": 4096}'),
    ('gpt-4-turbo', 'GPT-4 Turbo', 'Previous-generation OpenAI model; inactive by default.',
     'openai', false, false, false, 10.00, 30.00, '{"contextWindow": 128000, "maxOutputTokens": 4096}'),
    ('claude-3-5-sonnet-20241022', 'Claude 3.5 Sonnet', 'Anthropic model balancing intelligence and speed.',
     'anthropic', true, true, true, 3.00, 15.00, '{"contextWindow": 200000, "maxOutputTokens": 8192}'),
    ('claude-3-5-haiku-20241022', 'Claude 3.5 Haiku', 'Fast, low-cost Anthropic model.',
     'anthropic', true, false, true, 0.25, 1.25, '{"contextWindow": 200000, "maxOutputTokens": 8192}'),
    ('claude-3-opus-20240229', 'Claude 3 Opus', 'Previous-generation Anthropic model; inactive by default.',
     'anthropic', false, false, false, 15.00, 75.00, '{"contextWindow": 200000, "maxOutputTokens": 4096}');
