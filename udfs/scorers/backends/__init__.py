"""LLM backends behind one interface: ``chat(requests) -> replies``, a whole batch per call.

- ``llamacpp``: llama-cpp-python on CPU with the GGUF models that ship inside packages (the default);
- ``openai``: any OpenAI-compatible server (``vllm serve``, ``llama_cpp.server``, hosted APIs);
- ``vllm``: offline ``vllm.LLM`` on a GPU (the ``[vllm]`` extra), imported only when chosen.
"""
