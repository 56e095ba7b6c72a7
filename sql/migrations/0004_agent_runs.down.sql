DROP TABLE llm_agent_runs;
