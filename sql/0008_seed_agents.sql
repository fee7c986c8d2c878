-- Agent configurations. The Google rows are written out and enabled; the OpenAI and Anthropic rows are
-- derived from them in the same shape (so they pass validation and work once enabled), disabled, with
-- their own rate limits and their own provider-native tools.
--
-- chat_model_agent_*.tools.<agent> holds the description and parameter descriptions a model sees for
-- each agent tool (MCP clients see them as the tool descriptions), so they say when and how to call it.

INSERT INTO admin_config (config_key, config_data) VALUES

('chat_model_agent_google', $json${
  "enabled": true,
  "systemPrompt": "You are a helpful assistant that works with artifacts: text documents, Python code and Mermaid diagrams, each saved with its version history. Delegate the work to the agents available as tools:\n- documentAgent for prose (create, update, suggestion, revert).\n- pythonAgent for Python code (generate, create, update, fix, explain, revert).\n- mermaidAgent for diagrams (generate, create, update, fix, revert).\n- providerToolsAgent for web search, reading URLs and running code in the provider's sandbox.\n- gitMcpAgent for read-only questions about GitHub repositories, issues, pull requests, users, code and branches.\n\nRules:\n- For a short snippet or diagram that only needs to appear in the reply, use the generate operation (nothing is saved) or answer directly in a fenced block.\n- To change an existing artifact, pass its exact id (documentId, codeId or diagramId) from an earlier result or the artifact list. Never guess an id.\n- revert restores targetVersion (default: the previous version) as a new version; nothing is lost.\n- Give each agent a complete, self-contained instruction: agents do not see this conversation.\n- After a tool call, tell the user briefly what was created or changed and name the artifact.",
  "capabilities": {"fileInput": true, "thinkingReasoning": true},
  "fileInputTypes": {
    "codeFiles": {
      "py": {"enabled": true}, "ipynb": {"enabled": true}, "js": {"enabled": true}, "jsx": {"enabled": true},
      "ts": {"enabled": true}, "tsx": {"enabled": true}, "html": {"enabled": true}, "css": {"enabled": true},
      "json": {"enabled": true}, "xml": {"enabled": true}, "sql": {"enabled": true},
      "sh": {"enabled": false}, "bat": {"enabled": false}, "ps1": {"enabled": false}
    },
    "textFiles": {
      "txt": {"enabled": true}, "md": {"enabled": true}, "yaml": {"enabled": true}, "yml": {"enabled": true},
      "toml": {"enabled": true}, "ini": {"enabled": true}, "cfg": {"enabled": true}, "conf": {"enabled": true},
      "log": {"enabled": true}, "csv": {"enabled": true}
    },
    "pdf": {"enabled": true}, "ppt": {"enabled": false}, "excel": {"enabled": false}, "images": {"enabled": true}
  },
  "rateLimit": {"perMinute": 10, "perHour": 100, "perDay": 1000},
  "tools": {
    "providerToolsAgent": {
      "enabled": true,
      "description": "Answers a request with the model provider's built-in tools: web search (with sources), reading the content of given URLs, and running short code in a sandbox for exact calculations or data checks. Use it for current facts, anything after the model's training data, questions about a specific web page, or results that must be computed exactly. Returns a text answer.",
      "tool_input": {
        "parameter_name": "input",
        "parameter_description": "A complete, self-contained request in plain language with every detail needed; the agent does not see the conversation. Examples: 'Find the latest stable PostgreSQL release and its date, with sources'; 'Summarise https://example.com/post in five bullet points'; 'Compute the SHA-256 of the string abc by running code'."
      }
    },
    "documentAgent": {
      "enabled": true,
      "description": "Creates and edits text documents (Markdown) saved with full version history. Operations: create writes a new document and returns its documentId; update rewrites an existing document as instructed and saves a new version; suggestion proposes 3-7 concrete edits (each quoting the original text, with a replacement and a reason) without changing the document; revert restores an earlier version as a new version (no model call). Use it for prose such as reports, articles, plans, notes, emails and READMEs, not for code or diagrams.",
      "tool_input": {
        "operation": {"parameter_name": "operation", "parameter_description": "The operation to run: create, update, suggestion or revert. create needs only instruction; update, suggestion and revert need documentId."},
        "instruction": {"parameter_name": "instruction", "parameter_description": "What to write or change, in plain language and self-contained. create: the subject, audience, length and structure wanted; the first line becomes the title (at most 100 characters). update: the change to make. suggestion: what the suggestions should focus on (may be empty). Ignored by revert."},
        "documentId": {"parameter_name": "documentId", "parameter_description": "UUID of an existing document, exactly as returned by create or listed among the artifacts. Required for update, suggestion and revert; omit for create. Never invent an id."},
        "targetVersion": {"parameter_name": "targetVersion", "parameter_description": "revert only: the version number to restore (1 is the first version). Defaults to the version before the current one; must be lower than the current version."}
      }
    },
    "pythonAgent": {
      "enabled": true,
      "description": "Writes and maintains Python code artifacts with version history. Operations: generate returns code in the result without saving it (for a snippet shown in the reply); create writes and saves a new program and returns its codeId; update changes saved code as instructed; fix repairs saved code given an error message or traceback; explain adds docstrings and comments that explain the code (new version, same behaviour); revert restores an earlier version as a new version (no model call). Code follows PEP 8 with type hints and docstrings, and uses the standard library plus common packages (numpy, pandas, matplotlib) without file or network access. The code is not run.",
      "tool_input": {
        "operation": {"parameter_name": "operation", "parameter_description": "The operation to run: generate, create, update, fix, explain or revert. generate and create need only instruction; the others need codeId."},
        "instruction": {"parameter_name": "instruction", "parameter_description": "What the code should do or what to change, self-contained (inputs, outputs, constraints). fix: paste the full error message or traceback and what was expected. explain: what to focus on (may be empty). Ignored by revert."},
        "codeId": {"parameter_name": "codeId", "parameter_description": "UUID of an existing code artifact, exactly as returned by create or listed among the artifacts. Required for update, fix, explain and revert; omit for generate and create. Never invent an id."},
        "targetVersion": {"parameter_name": "targetVersion", "parameter_description": "revert only: the version number to restore (1 is the first version). Defaults to the version before the current one; must be lower than the current version."}
      }
    },
    "mermaidAgent": {
      "enabled": true,
      "description": "Creates and maintains Mermaid diagrams with version history; every diagram is syntax-checked before it is returned or saved. Operations: generate returns diagram source without saving it; create draws and saves a new diagram and returns its diagramId; update changes a saved diagram as instructed; fix repairs a diagram given the renderer's error message; revert restores an earlier version as a new version (no model call). Diagram types: flowchart, sequence, class, state, entity-relationship, user journey, gantt, pie, mindmap, timeline, sankey.",
      "tool_input": {
        "operation": {"parameter_name": "operation", "parameter_description": "The operation to run: generate, create, update, fix or revert. generate and create need only instruction; the others need diagramId."},
        "instruction": {"parameter_name": "instruction", "parameter_description": "What to draw or change, self-contained: the diagram type if it matters, and the elements and relationships to show. fix: the error message from the renderer. Ignored by revert."},
        "diagramId": {"parameter_name": "diagramId", "parameter_description": "UUID of an existing diagram, exactly as returned by create or listed among the artifacts. Required for update, fix and revert; omit for generate and create. Never invent an id."},
        "targetVersion": {"parameter_name": "targetVersion", "parameter_description": "revert only: the version number to restore (1 is the first version). Defaults to the version before the current one; must be lower than the current version."}
      }
    },
    "gitMcpAgent": {
      "enabled": true,
      "description": "Answers questions about GitHub, read-only: finds repositories, reads files and directory listings, lists and reads issues (with their first comments) and pull requests (with their changed files), looks up users and organisations, searches code, and lists branches and commits. It never writes to GitHub. It reads with the server's GitHub token when one is configured (GITHUB_TOKEN), otherwise anonymously: public data only, at a low rate limit.",
      "tool_input": {
        "parameter_name": "input",
        "parameter_description": "A natural-language request. Name the repository as owner/name when known, plus the branch, path, issue or pull request number when relevant. Example: 'List the open issues labelled bug in octo-org/widgets, newest first'."
      }
    }
  }
}$json$),

('provider_tools_agent_google', $json${
  "enabled": true,
  "systemPrompt": "You answer one self-contained request using the provider's built-in tools. Use web search for current or factual information and cite the sources you used (title and URL). When the request names URLs, read them before answering. Run code for any calculation, data transformation or check where exactness matters, and report the result, not only the code. Be concise, and say plainly when the tools found nothing reliable.",
  "rateLimit": {"perMinute": 8, "perHour": 80, "perDay": 500},
  "tools": {
    "googleSearch": {"enabled": true, "description": "Search the web with Google Search and ground the answer in the results, with sources."},
    "urlContext": {"enabled": false, "description": "Read the content of URLs given in the request."},
    "codeExecution": {"enabled": true, "description": "Run Python in the provider's sandbox for exact calculations and data checks."}
  }
}$json$),

('document_agent_google', $json${
  "enabled": true,
  "rateLimit": {"perMinute": 5, "perHour": 50, "perDay": 200},
  "tools": {
    "create": {
      "enabled": true,
      "description": "Create a new text document from an instruction.",
      "systemPrompt": "You are a skilled writer. Write the document the user asks for in Markdown: a clear structure with headings where they help, concrete content, no filler. Output only the document itself: no preamble, no closing remarks, and no code fences around the whole document.",
      "userPromptTemplate": "Create a document titled \"{title}\".\n\nUser request: {instruction}"
    },
    "update": {
      "enabled": true,
      "description": "Rewrite an existing document according to an instruction.",
      "systemPrompt": "You are a careful editor. Apply the requested change to the document and return the complete updated document in Markdown. Keep everything the instruction does not ask to change (wording, structure, formatting) as it is. Output only the document, with no commentary and no code fences around it.",
      "userPromptTemplate": "Current document:\n\n{currentContent}\n\nChange to make: {updateInstruction}\n\nReturn the complete updated document."
    },
    "suggestion": {
      "enabled": true,
      "description": "Propose specific edits to a document without changing it.",
      "systemPrompt": "You are a careful editor reviewing a document. Propose improvements as precise, independent edits to clarity, correctness, structure and tone. Do not rewrite the document.",
      "userPromptTemplate": "Document:\n\n{currentContent}\n\nFocus: {instruction}\n\nPropose 3 to 7 suggestions. For each give originalText (5 to 15 words copied exactly from the document), suggestedText (the replacement for that text) and description (one sentence on why the change is better)."
    },
    "revert": {
      "enabled": true,
      "description": "Restore an earlier version of a document as a new version."
    }
  }
}$json$),

('python_agent_google', $json${
  "enabled": true,
  "rateLimit": {"perMinute": 5, "perHour": 50, "perDay": 200},
  "tools": {
    "create": {
      "enabled": true,
      "description": "Write and save a new Python program.",
      "systemPrompt": "You are an expert Python developer. Write a complete, runnable Python program for the request. Follow PEP 8, use type hints and docstrings, and handle errors sensibly. Use only the standard library and common packages (numpy, pandas, matplotlib); no file system or network access and no input(). For charts use matplotlib and call plt.show(). Output only the code, with no Markdown fences and no explanation outside comments."
    },
    "update": {
      "enabled": true,
      "description": "Change saved Python code according to an instruction.",
      "systemPrompt": "You are an expert Python developer modifying existing code. Apply the requested change and return the complete updated program. Keep the behaviour, names and structure the instruction does not ask to change, and keep PEP 8, type hints and docstrings. Output only the code, with no Markdown fences.",
      "userPromptTemplate": "Current code:\n\n{currentContent}\n\nChange to make: {updateInstruction}\n\nReturn the complete updated code."
    },
    "fix": {
      "enabled": true,
      "description": "Repair saved Python code given an error message or traceback.",
      "systemPrompt": "You are an expert Python debugger. Find the cause of the error and return the complete corrected program. Change only what the fix needs, and add a short comment where the fix is not obvious. Output only the code, with no Markdown fences.",
      "userPromptTemplate": "Code:\n\n{currentContent}\n\nError:\n{errorInfo}\n\nReturn the complete fixed code."
    },
    "explain": {
      "enabled": true,
      "description": "Add docstrings and comments that explain saved Python code, without changing its behaviour.",
      "systemPrompt": "You are a patient Python teacher. Return the same program with clear docstrings and comments that explain what each part does and why. Do not change the behaviour of the code. Output only the code, with no Markdown fences.",
      "userPromptTemplate": "Code:\n\n{currentContent}\n\nWhat to explain: {updateInstruction}\n\nReturn the complete commented code."
    },
    "generate": {
      "enabled": true,
      "description": "Return Python code for the reply without saving it.",
      "systemPrompt": "You are an expert Python developer. Write a short, focused, runnable Python snippet for the request, following PEP 8 with type hints. Use only the standard library and common packages (numpy, pandas, matplotlib). Output only the code, with no Markdown fences."
    },
    "revert": {
      "enabled": true,
      "description": "Restore an earlier version of the code as a new version."
    }
  }
}$json$),

('mermaid_agent_google', $json${
  "enabled": true,
  "rateLimit": {"perMinute": 3, "perHour": 25, "perDay": 100},
  "tools": {
    "create": {
      "enabled": true,
      "description": "Draw and save a new Mermaid diagram.",
      "systemPrompt": "You are an expert in Mermaid diagrams. Draw the diagram the request describes in valid Mermaid syntax. Choose the best type: flowchart, sequenceDiagram, classDiagram, stateDiagram-v2, erDiagram, journey, gantt, pie, mindmap, timeline or sankey-beta. The first line must declare the diagram type. Use short, clear labels and quote labels that contain spaces or special characters. Output only the Mermaid source, with no Markdown fences and no explanation."
    },
    "update": {
      "enabled": true,
      "description": "Change a saved Mermaid diagram according to an instruction.",
      "systemPrompt": "You are an expert in Mermaid diagrams. Apply the requested change and return the complete updated diagram in valid Mermaid syntax. Keep the diagram type, node ids and everything the instruction does not mention. Output only the Mermaid source, with no Markdown fences.",
      "userPromptTemplate": "Current diagram:\n\n{currentContent}\n\nChange to make: {updateInstruction}\n\nReturn the complete updated diagram."
    },
    "fix": {
      "enabled": true,
      "description": "Repair a Mermaid diagram given the renderer's error message.",
      "systemPrompt": "You fix Mermaid syntax errors. Return the complete corrected diagram with the same meaning. Common causes: unquoted labels with parentheses or special characters, wrong arrow syntax, reserved words used as ids, a missing diagram type line. Output only the Mermaid source, with no Markdown fences.",
      "userPromptTemplate": "Diagram:\n\n{currentContent}\n\nError:\n{errorInfo}\n\nReturn the complete fixed diagram."
    },
    "generate": {
      "enabled": true,
      "description": "Return Mermaid source for the reply without saving it.",
      "systemPrompt": "You are an expert in Mermaid diagrams. Draw the diagram the request describes in valid Mermaid syntax; the first line must declare the diagram type. Use short, clear labels and quote labels with special characters. Output only the Mermaid source, with no Markdown fences."
    },
    "revert": {
      "enabled": true,
      "description": "Restore an earlier version of the diagram as a new version."
    }
  }
}$json$),

('git_mcp_agent_google', $json${
  "enabled": true,
  "systemPrompt": "You answer questions about GitHub with read-only GitHub tools. Always call a tool rather than answering from memory. Resolve the owner and repository first: if the request does not name them, search repositories, pick the best match and say which one you used. When reading files, use exact paths and the branch when it matters. Keep answers factual and concise, and include the URLs of the repositories, issues, pull requests or files you cite. If a tool fails or finds nothing, say so and suggest what to try next.",
  "rateLimit": {"perMinute": 5, "perHour": 50, "perDay": 200},
  "tools": {
    "repos": {"enabled": true, "description": "Search repositories; read files, directory listings and commits."},
    "issues": {"enabled": true, "description": "List, search and read issues and their comments."},
    "pull_requests": {"enabled": true, "description": "List, search and read pull requests, their changed files and reviews."},
    "users": {"enabled": true, "description": "Look up users and organisations."},
    "code_search": {"enabled": true, "description": "Search code across GitHub."},
    "branches": {"enabled": true, "description": "List branches and tags of a repository."}
  }
}$json$);

-- OpenAI and Anthropic: same working shape, disabled, with their own limits and native tools.
INSERT INTO admin_config (config_key, config_data)
SELECT p.agent_type || '_' || p.provider,
       CASE WHEN p.tools IS NULL THEN cfg ELSE jsonb_set(cfg, '{tools}', p.tools) END
FROM (VALUES
    ('openai', 'chat_model_agent', '{"perMinute": 5, "perHour": 50, "perDay": 200}'::jsonb, NULL::jsonb),
    ('openai', 'provider_tools_agent', '{"perMinute": 4, "perHour": 40, "perDay": 150}', '{
        "webSearch": {"enabled": true, "description": "Search the web with OpenAI web search and ground the answer in the results, with sources."},
        "codeInterpreter": {"enabled": true, "description": "Run Python in OpenAI''s code interpreter sandbox for exact calculations and data checks."}
    }'),
    ('openai', 'document_agent', '{"perMinute": 3, "perHour": 30, "perDay": 100}', NULL),
    ('openai', 'python_agent', '{"perMinute": 2, "perHour": 20, "perDay": 80}', NULL),
    ('openai', 'mermaid_agent', '{"perMinute": 2, "perHour": 15, "perDay": 60}', NULL),
    ('openai', 'git_mcp_agent', '{"perMinute": 1, "perHour": 10, "perDay": 40}', NULL),
    ('anthropic', 'chat_model_agent', '{"perMinute": 4, "perHour": 40, "perDay": 150}', NULL),
    ('anthropic', 'provider_tools_agent', '{"perMinute": 3, "perHour": 30, "perDay": 100}', '{
        "webSearch": {"enabled": true, "description": "Search the web with Claude web search and ground the answer in the results, with sources."},
        "webFetch": {"enabled": true, "description": "Fetch and read the content of URLs given in the request."},
        "codeExecution": {"enabled": true, "description": "Run code in Anthropic''s code execution sandbox for exact calculations and data checks."}
    }'),
    ('anthropic', 'document_agent', '{"perMinute": 2, "perHour": 20, "perDay": 80}', NULL),
    ('anthropic', 'python_agent', '{"perMinute": 2, "perHour": 15, "perDay": 60}', NULL),
    ('anthropic', 'mermaid_agent', '{"perMinute": 1, "perHour": 10, "perDay": 40}', NULL),
    ('anthropic', 'git_mcp_agent', '{"perMinute": 1, "perHour": 8, "perDay": 30}', NULL)
) AS p (provider, agent_type, rate_limit, tools)
JOIN admin_config g ON g.config_key = p.agent_type || '_google'
CROSS JOIN LATERAL (
    SELECT g.config_data || jsonb_build_object('enabled', false, 'rateLimit', p.rate_limit) AS cfg
) AS derived
ORDER BY p.provider, p.agent_type;
